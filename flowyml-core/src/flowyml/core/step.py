"""``@step`` and the :class:`Step` it makes."""

from __future__ import annotations

__all__ = ["Step", "step", "clear_step_registry", "CacheOption", "CACHE_STRATEGIES", "Resources"]

import inspect
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

from flowyml.core.names import check_name
from flowyml.core.resources import ResourceConfig, ResourceRequirements

#: ``cache=`` strings FlowyML steps use; both mean "on" (the key always covers code, inputs and context).
CACHE_STRATEGIES = ("code_hash", "input_hash")

CacheOption = bool | str | Callable[..., Any]
Resources = ResourceConfig | ResourceRequirements | Mapping[str, Any]


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _as_resources(value: Resources | None, step_name: str) -> ResourceConfig | ResourceRequirements | None:
    """Keep a ``ResourceConfig``/``ResourceRequirements``; a mapping becomes ``ResourceRequirements``."""
    if value is None or isinstance(value, (ResourceConfig, ResourceRequirements)):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(
            f"step {step_name!r}: resources must be a ResourceRequirements, a ResourceConfig or a dict, "
            f"got {type(value).__name__}"
        )
    try:
        return ResourceRequirements.from_mapping(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"step {step_name!r}: {exc}") from None


def _check_cache(value: CacheOption, step_name: str) -> CacheOption:
    if isinstance(value, bool) or callable(value) or value in CACHE_STRATEGIES:
        return value
    raise ValueError(
        f"step {step_name!r}: cache must be True, False, a callable or one of {', '.join(CACHE_STRATEGIES)}; "
        f"got {value!r}"
    )


def _plain_function(func: Any) -> bool:
    """A def/lambda whose code object tells its parameters (no wrapper or ``__signature__`` to honour)."""
    return type(func) is types.FunctionType and not hasattr(func, "__wrapped__") and not hasattr(func, "__signature__")


def _is_coroutine_function(func: Any) -> bool:
    if _plain_function(func):
        return bool(func.__code__.co_flags & inspect.CO_COROUTINE)
    return inspect.iscoroutinefunction(func)


class Step:
    """A function plus what the pipeline needs to know about it.

    Calling a ``Step`` calls the function, so decorated functions stay testable on their own.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        inputs: str | Sequence[str] | None = None,
        outputs: str | Sequence[str] | None = None,
        cache: CacheOption = True,
        retry: int = 0,
        timeout: float | None = None,
        resources: Resources | None = None,
        tags: Mapping[str, str] | None = None,
        condition: Callable[..., bool] | None = None,
        execution_group: str | None = None,
        pipeline: str | None = None,
        register: bool = True,
    ) -> None:
        # ``pipeline`` / ``register`` scope FlowyML's global step registry; flowyml has none (steps are
        # added with ``add_step``), so both are accepted for FlowyML code and change nothing.
        del pipeline, register
        if not callable(func):
            raise TypeError(f"@step needs a function, got {func!r}")
        if retry < 0:
            raise ValueError(f"retry must be >= 0, got {retry}")
        self.func = func
        self.name = name or func.__name__
        self.inputs = _as_list(inputs)
        self.outputs = _as_list(outputs)
        self.cache = _check_cache(cache, self.name)
        self.retry = retry
        self.timeout = timeout
        self.resources = _as_resources(resources, self.name)
        check_name(self.name, "step name")  # after the option checks: their messages name the step
        self.tags = dict(tags or {})
        self.condition = condition
        self.execution_group = None if execution_group is None else check_name(execution_group, "execution group")
        self.is_async = _is_coroutine_function(func)
        self._code_hash: str | None = None
        self._params: tuple[frozenset[str], bool, list[str]] | None = None
        self._required: tuple[str, ...] | None = None
        self._plan: tuple[tuple[tuple[str, str], ...], tuple[str, ...]] | None = None
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Step({self.name!r}, inputs={self.inputs}, outputs={self.outputs})"

    @property
    def signature_params(self) -> tuple[frozenset[str], bool, list[str]]:
        """(parameter names, accepts ``**kwargs``, positional names) — computed once."""
        if self._params is None and _plain_function(self.func):
            # the code object lists the same names as inspect.signature, ~25 µs faster per step
            code = self.func.__code__
            names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
            named = [n for n in names if n not in ("self", "cls")]
            self._params = (frozenset(named), bool(code.co_flags & inspect.CO_VARKEYWORDS), named)
        if self._params is None:
            params = [p for p in inspect.signature(self.func).parameters.values() if p.name not in ("self", "cls")]
            var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
            named = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            self._params = (frozenset(named), var_kw, named)
        return self._params

    @property
    def required_params(self) -> tuple[str, ...]:
        """Parameters without a default (``*args``/``**kwargs`` excluded) — computed once."""
        if self._required is None:
            func = self.func
            if _plain_function(func):
                code = func.__code__
                positional = code.co_varnames[: code.co_argcount]
                n_defaults = len(func.__defaults__ or ())
                kwonly = code.co_varnames[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
                kwdefaults = func.__kwdefaults__ or {}
                names = [*positional[: len(positional) - n_defaults], *(k for k in kwonly if k not in kwdefaults)]
            else:
                names = [
                    p.name
                    for p in inspect.signature(func).parameters.values()
                    if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                ]
            self._required = tuple(n for n in names if n not in ("self", "cls"))
        return self._required

    @property
    def input_plan(self) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
        """How inputs reach parameters, worked out once: ((input, parameter), ...) and the other parameters.

        A declared input goes to the parameter of its name (any name if the function takes
        ``**kwargs``), else to the parameter at its position; the other named parameters may be
        filled from outputs of the same name.
        """
        if self._plan is None:
            names, var_kw, positional = self.signature_params
            targets: list[tuple[str, str]] = []
            taken: set[str] = set()
            for i, input_name in enumerate(self.inputs):
                if input_name in names or var_kw:
                    param = input_name
                elif i < len(positional) and positional[i] not in taken:
                    param = positional[i]
                else:
                    continue
                targets.append((input_name, param))
                taken.add(param)
            self._plan = (tuple(targets), tuple(p for p in positional if p not in taken))
        return self._plan

    def accepted(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The subset of ``kwargs`` the function can take."""
        names, var_kw, _ = self.signature_params
        if var_kw:
            return dict(kwargs)
        return {k: v for k, v in kwargs.items() if k in names}

    def get_code_hash(self) -> str:
        """A hash of the function's source: editing the step invalidates its cache."""
        if self._code_hash is None:
            import hashlib

            try:
                source = inspect.getsource(self.func)
            except (OSError, TypeError):
                code = getattr(self.func, "__code__", None)
                source = repr((code.co_code, code.co_consts)) if code else repr(self.func)
            self._code_hash = hashlib.sha256(source.encode()).hexdigest()[:16]
        return self._code_hash

    def get_cache_key(self, inputs: Mapping[str, Any], context_params: Mapping[str, Any] | None = None) -> str:
        """Key from the step's name, code hash, inputs and context parameters — values only, never identity.

        With ``cache=<callable>`` the callable's answer for ``(inputs, context_params)`` stands in for
        the inputs and parameters (the name and code still count).
        """
        from flowyml.core.cache import stable_digest

        params = dict(context_params or {})
        if callable(self.cache) and not isinstance(self.cache, bool):
            return stable_digest((self.name, self.get_code_hash(), "custom", self.cache(dict(inputs), params)))
        return stable_digest((self.name, self.get_code_hash(), dict(inputs), params))


@overload
def step(func: Callable[..., Any], /) -> Step: ...


@overload
def step(
    func: None = None,
    /,
    *,
    name: str | None = None,
    inputs: str | Sequence[str] | None = None,
    outputs: str | Sequence[str] | None = None,
    cache: CacheOption = True,
    retry: int = 0,
    timeout: float | None = None,
    resources: Resources | None = None,
    tags: Mapping[str, str] | None = None,
    condition: Callable[..., bool] | None = None,
    execution_group: str | None = None,
    pipeline: str | None = None,
    register: bool = True,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(func: Callable[..., Any] | None = None, /, **options: Any) -> Step | Callable[[Callable[..., Any]], Step]:
    """Make a function a pipeline step; use bare (``@step``) or with options (``@step(outputs=[...])``)."""
    if func is not None:
        return Step(func, **options)

    def decorate(f: Callable[..., Any]) -> Step:
        return Step(f, **options)

    return decorate


def clear_step_registry() -> None:
    """FlowyML's reset of its global step registry; flowyml keeps no registry, so there is nothing to clear."""
