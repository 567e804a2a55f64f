"""Pipeline-wide parameters that steps receive by argument name."""

from __future__ import annotations

__all__ = ["Context", "context"]

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any


class Context(Mapping[str, Any]):
    """Named parameters (learning rate, batch size, ...) injected into the steps that ask for them.

    A child made with :meth:`inherit` falls back to its parent for every parameter it does not
    set itself (attributes, ``[...]``, ``get``, ``keys``, ``items``, ``to_dict``).
    """

    def __init__(self, params: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self._params: dict[str, Any] = {**(params or {}), **kwargs}
        self._parent: Context | None = None

    def __getitem__(self, key: str) -> Any:
        if key in self._params:
            return self._params[key]
        if self._parent is not None:
            return self._parent[key]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key in self._params or (self._parent is not None and key in self._parent)

    def __iter__(self) -> Iterator[str]:
        if self._parent is None:
            return iter(self._params)
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self._params) if self._parent is None else len(self.to_dict())

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"context has no parameter {key!r}") from None

    def __repr__(self) -> str:
        return f"Context({self.to_dict()!r})"

    def to_dict(self) -> dict[str, Any]:
        """Every parameter, the parent's first, then this context's own."""
        if self._parent is None:
            return dict(self._params)
        return {**self._parent.to_dict(), **self._params}

    def update(self, data: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), /, **kwargs: Any) -> Context:
        """Add or replace parameters in place (FlowyML's ``ctx.update({...})``); returns the context."""
        self._params.update(data, **kwargs)
        return self

    def copy(self, **overrides: Any) -> Context:
        """A detached context with every parameter (parents flattened), plus ``overrides``."""
        return Context(self.to_dict(), **overrides)

    def inherit(self, **overrides: Any) -> Context:
        """A child context: ``overrides`` here, everything else read from this context (live)."""
        child = Context(overrides)
        child._parent = self
        return child

    def inject_params(self, func: Callable[..., Any]) -> dict[str, Any]:
        """The parameters ``func`` accepts by name (all of them if it takes ``**kwargs``)."""
        target = getattr(func, "func", func)
        params = inspect.signature(target).parameters
        values = self.to_dict()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return values
        return {k: v for k, v in values.items() if k in params}

    def validate_for_step(self, step_func: Callable[..., Any], exclude: Iterable[str] | None = None) -> list[str]:
        """Required parameters of ``step_func`` (no default) that this context does not provide.

        ``exclude`` names parameters filled some other way (the step's inputs).
        """
        target = getattr(step_func, "func", step_func)
        skip = set(exclude or ())
        missing = []
        for name, param in inspect.signature(target).parameters.items():
            if name in ("self", "cls") or name in skip or param.default is not inspect.Parameter.empty:
                continue
            if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                continue
            if name not in self:
                missing.append(name)
        return missing


def context(**params: Any) -> Context:
    """``context(learning_rate=0.05, batch_size=64)``."""
    return Context(params)
