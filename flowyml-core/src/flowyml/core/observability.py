"""Metrics collection: a collector protocol, a console collector, and the process-wide setting.

>>> from flowyml.core.observability import ConsoleMetricsCollector, set_metrics_collector
>>> set_metrics_collector(ConsoleMetricsCollector())   # every run now reports its pipeline and steps

A collector that raises is logged and never fails the run.
"""

from __future__ import annotations

__all__ = [
    "MetricsCollector",
    "ConsoleMetricsCollector",
    "MetricEvent",
    "PipelineMetricEvent",
    "StepMetricEvent",
    "set_metrics_collector",
    "get_metrics_collector",
]

import logging
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TextIO, runtime_checkable

import attrs

if TYPE_CHECKING:
    from flowyml.core.executor import ExecutionResult
    from flowyml.core.pipeline import Pipeline, PipelineResult
    from flowyml.core.step import Step

log = logging.getLogger(__name__)


@attrs.define
class MetricEvent:
    timestamp: datetime = attrs.field(factory=datetime.now)
    tags: dict[str, str] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["timestamp"] = self.timestamp.isoformat()
        return data


@attrs.define
class PipelineMetricEvent(MetricEvent):
    pipeline_name: str = ""
    run_id: str = ""
    duration_seconds: float | None = None
    success: bool | None = None


@attrs.define
class StepMetricEvent(MetricEvent):
    step_name: str = ""
    pipeline_name: str = ""
    run_id: str = ""
    duration_seconds: float | None = None
    success: bool | None = None
    cached: bool = False


@runtime_checkable
class MetricsCollector(Protocol):
    """What a collector implements; flowyml calls it at each run's and step's start and end."""

    def record_pipeline_start(self, pipeline: Pipeline, run_id: str) -> None: ...

    def record_pipeline_end(self, pipeline: Pipeline, result: PipelineResult) -> None: ...

    def record_step_start(self, step: Step, pipeline_name: str, run_id: str) -> None: ...

    def record_step_end(self, step: Step, result: ExecutionResult, pipeline_name: str, run_id: str) -> None: ...


class ConsoleMetricsCollector:
    """Prints one line per event (to stdout, or the ``stream`` given)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def _print(self, what: str, event: MetricEvent) -> None:
        print(f"📊 {what}: {event.to_dict()}", file=self.stream or sys.stdout)

    def record_pipeline_start(self, pipeline: Pipeline, run_id: str) -> None:
        self._print("Pipeline Started", PipelineMetricEvent(pipeline_name=pipeline.name, run_id=run_id))

    def record_pipeline_end(self, pipeline: Pipeline, result: PipelineResult) -> None:
        event = PipelineMetricEvent(
            pipeline_name=pipeline.name,
            run_id=result.run_id,
            duration_seconds=result.duration_seconds,
            success=result.success,
        )
        self._print("Pipeline Ended", event)

    def record_step_start(self, step: Step, pipeline_name: str, run_id: str) -> None:
        self._print("Step Started", StepMetricEvent(step_name=step.name, pipeline_name=pipeline_name, run_id=run_id))

    def record_step_end(self, step: Step, result: ExecutionResult, pipeline_name: str, run_id: str) -> None:
        event = StepMetricEvent(
            step_name=step.name,
            pipeline_name=pipeline_name,
            run_id=run_id,
            duration_seconds=result.duration_seconds,
            success=result.success,
            cached=result.cached,
        )
        self._print("Step Ended", event)


_collector: MetricsCollector | None = None


def set_metrics_collector(collector: MetricsCollector | None) -> None:
    """Use ``collector`` for every run in this process (``None``: stop collecting)."""
    global _collector
    _collector = collector


def get_metrics_collector() -> MetricsCollector | None:
    return _collector


def record(method: str, *args: Any) -> None:
    """Call ``method`` on the collector, if one is set; a failing collector is logged, never raised."""
    collector = _collector
    if collector is None:
        return
    try:
        getattr(collector, method)(*args)
    except Exception:
        log.warning("metrics collector %s.%s failed", type(collector).__name__, method, exc_info=True)
