"""flowyml's async API: await local and remote runs, run many at once, cancel cleanly.

>>> result = await pipeline.run_async(inputs={...})                 # local, async steps on the loop
>>> sub = await orchestrator.run_pipeline_async(pipeline, run_id="r1")
>>> status = await sub.wait_async(timeout=3600)                    # cancelling this task cancels the run
>>> outcomes = await flowyml.aio.run_many([p1, p2], max_concurrency=8, timeout=600, retries=2)
>>> runner = PipelineRunner(RunnerConfig(max_concurrent_runs=4)); runner.add(p1, triggers=[IntervalTrigger(minutes=5)])

Blocking work (SDK calls, sync steps) always runs in worker threads, never on the loop.
Names load on first use, so ``pipeline.run_async`` does not import the remote machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowyml.aio.decorators import with_retry, with_semaphore, with_timeout
    from flowyml.aio.jobs import ExecutionContext, Job, RunOutcome, as_job, execute_job, remote
    from flowyml.aio.local import run_local_async
    from flowyml.aio.many import BatchFailedError, iter_many, run_many
    from flowyml.aio.pool import Batch, PoolStats, RunPool
    from flowyml.aio.remote_ops import (
        RunTimedOutError,
        get_run_status_async,
        get_status_report_async,
        iter_logs_async,
        stop_run_async,
        stream_logs_async,
        submit_async,
        wait_async,
    )
    from flowyml.aio.runner import (
        PipelinePausedError,
        PipelineRunner,
        PipelineStats,
        RunnerConfig,
        RunnerError,
        RunnerOutcome,
        RunnerStats,
        TriggerError,
    )
    from flowyml.aio.strategies import ConcurrentStrategy, SequentialStrategy, StagedStrategy, Strategy
    from flowyml.aio.threads import io_executor, run_blocking, run_in, step_executor, submit_executor, to_async
    from flowyml.aio.triggers import AsyncTrigger, CronTrigger, ExternalTrigger, IntervalTrigger, TriggerResult

_MODULES = {
    "decorators": ("with_retry", "with_semaphore", "with_timeout"),
    "jobs": ("ExecutionContext", "Job", "RunOutcome", "as_job", "execute_job", "remote"),
    "local": ("run_local_async",),
    "many": ("BatchFailedError", "iter_many", "run_many"),
    "pool": ("Batch", "PoolStats", "RunPool"),
    "remote_ops": (
        "RunTimedOutError",
        "get_run_status_async",
        "get_status_report_async",
        "iter_logs_async",
        "stop_run_async",
        "stream_logs_async",
        "submit_async",
        "wait_async",
    ),
    "runner": (
        "PipelinePausedError",
        "PipelineRunner",
        "PipelineStats",
        "RunnerConfig",
        "RunnerError",
        "RunnerOutcome",
        "RunnerStats",
        "TriggerError",
    ),
    "strategies": ("ConcurrentStrategy", "SequentialStrategy", "StagedStrategy", "Strategy"),
    "threads": ("io_executor", "run_blocking", "run_in", "step_executor", "submit_executor", "to_async"),
    "triggers": ("AsyncTrigger", "CronTrigger", "ExternalTrigger", "IntervalTrigger", "TriggerResult"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}

__all__ = [
    "AsyncTrigger",
    "Batch",
    "BatchFailedError",
    "ConcurrentStrategy",
    "CronTrigger",
    "ExecutionContext",
    "ExternalTrigger",
    "IntervalTrigger",
    "Job",
    "PipelinePausedError",
    "PipelineRunner",
    "PipelineStats",
    "PoolStats",
    "RunOutcome",
    "RunPool",
    "RunTimedOutError",
    "RunnerConfig",
    "RunnerError",
    "RunnerOutcome",
    "RunnerStats",
    "SequentialStrategy",
    "StagedStrategy",
    "Strategy",
    "TriggerError",
    "TriggerResult",
    "as_job",
    "execute_job",
    "get_run_status_async",
    "get_status_report_async",
    "io_executor",
    "iter_logs_async",
    "iter_many",
    "remote",
    "run_blocking",
    "run_in",
    "run_local_async",
    "run_many",
    "step_executor",
    "stop_run_async",
    "stream_logs_async",
    "submit_async",
    "submit_executor",
    "to_async",
    "wait_async",
    "with_retry",
    "with_semaphore",
    "with_timeout",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'flowyml.aio' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"flowyml.aio.{module}"), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
