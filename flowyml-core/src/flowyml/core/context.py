"""Pipeline-wide parameters that steps receive by argument name."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any


class Context(Mapping[str, Any]):
    """Named parameters (learning rate, batch size, ...) injected into the steps that ask for them."""

    def __init__(self, params: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self._params: dict[str, Any] = {**(params or {}), **kwargs}

    def __getitem__(self, key: str) -> Any:
        return self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __getattr__(self, key: str) -> Any:
        try:
            return self.__dict__["_params"][key]
        except KeyError:
            raise AttributeError(f"context has no parameter {key!r}") from None

    def __repr__(self) -> str:
        return f"Context({self._params!r})"

    def to_dict(self) -> dict[str, Any]:
        return dict(self._params)

    def update(self, **kwargs: Any) -> Context:
        """A new context with these parameters added or replaced."""
        return Context(self._params, **kwargs)

    def inject_params(self, func: Callable[..., Any]) -> dict[str, Any]:
        """The parameters ``func`` accepts by name (all of them if it takes ``**kwargs``)."""
        target = getattr(func, "func", func)
        params = inspect.signature(target).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return dict(self._params)
        return {k: v for k, v in self._params.items() if k in params}


def context(**params: Any) -> Context:
    """``context(learning_rate=0.05, batch_size=64)``."""
    return Context(params)
