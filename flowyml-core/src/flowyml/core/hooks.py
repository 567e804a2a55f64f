"""Lifecycle hooks: functions called when a pipeline or a step starts and ends.

>>> from flowyml.core.hooks import on_step_end
>>> @on_step_end
... def report(step, result):
...     print(step.name, result.status)

Hooks registered at import time of the pipeline's module also run inside the step-runner, so on
a backend the step hooks fire in the container that runs the step. A hook that raises is logged
and never fails the run. ``on_params_collected`` hooks get a local run's parameters when it starts,
``on_metrics_collected`` hooks each :class:`~flowyml.core.assets.Metrics` a step returns.
"""

from __future__ import annotations

__all__ = [
    "HookRegistry",
    "get_global_hooks",
    "on_pipeline_start",
    "on_pipeline_end",
    "on_step_start",
    "on_step_end",
    "on_metrics_collected",
    "on_params_collected",
]

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from flowyml.core import observability

if TYPE_CHECKING:
    from flowyml.core.executor import ExecutionResult
    from flowyml.core.pipeline import Pipeline, PipelineResult
    from flowyml.core.step import Step

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


@attrs.define
class HookRegistry:
    """The hook lists, with ``register_*`` to add and ``run_*`` to call them."""

    on_pipeline_start: list[Callable[[Pipeline], Any]] = attrs.field(factory=list)
    on_pipeline_end: list[Callable[[Pipeline, PipelineResult], Any]] = attrs.field(factory=list)
    on_step_start: list[Callable[[Step, dict[str, Any]], Any]] = attrs.field(factory=list)
    on_step_end: list[Callable[[Step, ExecutionResult], Any]] = attrs.field(factory=list)
    on_metrics_collected: list[Callable[[str, dict[str, Any]], Any]] = attrs.field(factory=list)
    on_params_collected: list[Callable[[dict[str, Any]], Any]] = attrs.field(factory=list)

    def register_pipeline_start_hook(self, hook: Callable[[Pipeline], Any]) -> None:
        self.on_pipeline_start.append(hook)

    def register_pipeline_end_hook(self, hook: Callable[[Pipeline, PipelineResult], Any]) -> None:
        self.on_pipeline_end.append(hook)

    def register_step_start_hook(self, hook: Callable[[Step, dict[str, Any]], Any]) -> None:
        self.on_step_start.append(hook)

    def register_step_end_hook(self, hook: Callable[[Step, ExecutionResult], Any]) -> None:
        self.on_step_end.append(hook)

    def register_metrics_collected_hook(self, hook: Callable[[str, dict[str, Any]], Any]) -> None:
        self.on_metrics_collected.append(hook)

    def register_params_collected_hook(self, hook: Callable[[dict[str, Any]], Any]) -> None:
        self.on_params_collected.append(hook)

    def run_pipeline_start_hooks(self, pipeline: Pipeline) -> None:
        _call_all(self.on_pipeline_start, "pipeline start", pipeline)

    def run_pipeline_end_hooks(self, pipeline: Pipeline, result: PipelineResult) -> None:
        _call_all(self.on_pipeline_end, "pipeline end", pipeline, result)

    def run_step_start_hooks(self, step: Step, inputs: dict[str, Any]) -> None:
        _call_all(self.on_step_start, "step start", step, inputs)

    def run_step_end_hooks(self, step: Step, result: ExecutionResult) -> None:
        _call_all(self.on_step_end, "step end", step, result)

    def run_metrics_collected_hooks(self, step_name: str, metrics: dict[str, Any]) -> None:
        _call_all(self.on_metrics_collected, "metrics collected", step_name, metrics)

    def run_params_collected_hooks(self, params: dict[str, Any]) -> None:
        _call_all(self.on_params_collected, "params collected", params)

    def has_step_hooks(self) -> bool:
        return bool(self.on_step_start or self.on_step_end or self.on_metrics_collected)

    def clear(self) -> None:
        """Remove every hook (tests, notebooks re-running a cell)."""
        for hooks in (
            self.on_pipeline_start,
            self.on_pipeline_end,
            self.on_step_start,
            self.on_step_end,
            self.on_metrics_collected,
            self.on_params_collected,
        ):
            hooks.clear()


def _call_all(hooks: list[Callable[..., Any]], what: str, *args: Any) -> None:
    for hook in list(hooks):
        try:
            hook(*args)
        except Exception:
            log.warning("%s hook %s failed", what, getattr(hook, "__qualname__", hook), exc_info=True)


_global_hooks = HookRegistry()


def get_global_hooks() -> HookRegistry:
    """The process-wide registry the decorators below add to."""
    return _global_hooks


def on_pipeline_start(func: F) -> F:
    """Call ``func(pipeline)`` when a run starts."""
    _global_hooks.register_pipeline_start_hook(func)
    return func


def on_pipeline_end(func: F) -> F:
    """Call ``func(pipeline, result)`` when a run ends (its ``PipelineResult``)."""
    _global_hooks.register_pipeline_end_hook(func)
    return func


def on_step_start(func: F) -> F:
    """Call ``func(step, inputs)`` just before a step runs (``inputs``: its arguments from other steps)."""
    _global_hooks.register_step_start_hook(func)
    return func


def on_step_end(func: F) -> F:
    """Call ``func(step, result)`` after a step ran, was a cache hit, was skipped by its condition, or failed."""
    _global_hooks.register_step_end_hook(func)
    return func


def on_metrics_collected(func: F) -> F:
    """Call ``func(step_name, metrics)`` for each ``Metrics`` asset a step returns (its values, as a dict)."""
    _global_hooks.register_metrics_collected_hook(func)
    return func


def on_params_collected(func: F) -> F:
    """Call ``func(params)`` when a local run starts, with its parameters (the context and ``run(context=...)``)."""
    _global_hooks.register_params_collected_hook(func)
    return func


# -- what the run loop and the step-runner call (hooks, then the metrics collector) ----------------
def pipeline_started(pipeline: Pipeline, run_id: str, params: Mapping[str, Any] | None = None) -> None:
    _global_hooks.run_pipeline_start_hooks(pipeline)
    if params is not None and _global_hooks.on_params_collected:
        _global_hooks.run_params_collected_hooks(dict(params))
    observability.record("record_pipeline_start", pipeline, run_id)


def pipeline_ended(pipeline: Pipeline, result: PipelineResult) -> None:
    _global_hooks.run_pipeline_end_hooks(pipeline, result)
    observability.record("record_pipeline_end", pipeline, result)


def watching_steps() -> bool:
    """Whether any step hook or a metrics collector wants step events (the run loop's fast path)."""
    return _global_hooks.has_step_hooks() or observability._collector is not None


def step_started(step: Step, inputs: dict[str, Any], pipeline_name: str, run_id: str) -> None:
    if _global_hooks.on_step_start:
        _global_hooks.run_step_start_hooks(step, inputs)
    if observability._collector is not None:
        observability.record("record_step_start", step, pipeline_name, run_id)


def step_ended(step: Step, result: ExecutionResult, pipeline_name: str, run_id: str) -> None:
    if _global_hooks.on_step_end:
        _global_hooks.run_step_end_hooks(step, result)
    if _global_hooks.on_metrics_collected and result.success and not result.skipped:
        for metrics in _metrics_in(result.output):
            _global_hooks.run_metrics_collected_hooks(step.name, metrics.get_all_metrics())
    if observability._collector is not None:
        observability.record("record_step_end", step, result, pipeline_name, run_id)


def _metrics_in(output: Any) -> Iterator[Any]:
    """The ``Metrics`` assets of a step's return value: itself, or the items of a tuple, list or dict."""
    from flowyml.core.assets import Metrics

    if isinstance(output, Mapping):
        output = list(output.values())
    yield from (v for v in (output if isinstance(output, (tuple, list)) else [output]) if isinstance(v, Metrics))
