"""``await pipeline.run_async(...)``: a local run on the event loop, with the same results as ``run``.

``async def`` steps are awaited on the loop, sync steps run in a thread pool, and every step whose
dependencies are done starts at once, up to ``max_workers`` steps in flight. The bookkeeping
(skips after a failure, StopExecution, outputs, the result) is core's ``_Run``.
"""

from __future__ import annotations

__all__ = ["run_local_async"]

import asyncio
import time
from collections.abc import Mapping
from concurrent.futures import Executor as PoolExecutor
from typing import Any

from flowyml.aio.step import execute_step_async
from flowyml.aio.threads import run_in, step_executor
from flowyml.core.executor import ExecutionResult, LocalExecutor
from flowyml.core.pipeline import Pipeline, PipelineResult, ReadySteps, _Run
from flowyml.core.step import Step


async def run_local_async(
    pipeline: Pipeline,
    inputs: Mapping[str, Any] | None = None,
    *,
    run_id: str | None = None,
    max_workers: int | None = None,
    executor: LocalExecutor | None = None,
    cache_store: Any | None = None,
    artifact_store: Any | None = None,
    context: Mapping[str, Any] | None = None,
    thread_pool: PoolExecutor | None = None,
) -> PipelineResult:
    """Run ``pipeline`` here without blocking the loop; same flags and result as :meth:`Pipeline.run`.

    ``max_workers`` caps the steps in flight (``1``: one at a time, in order; default: no cap for
    async steps, sync steps are bounded by ``thread_pool``, default a shared pool).
    Cancelling the awaiting task cancels the running async steps (threads finish on their own).
    """
    if max_workers is not None and max_workers < 1:
        raise ValueError(f"max_workers must be >= 1, got {max_workers}")
    run = pipeline.new_run(
        inputs,
        run_id=run_id,
        executor=executor,
        cache_store=cache_store,
        artifact_store=artifact_store,
        context=context,
    )
    return await _AsyncRun(run, max_workers, thread_pool).execute()


class _AsyncRun:
    def __init__(self, run: _Run, limit: int | None, thread_pool: PoolExecutor | None) -> None:
        self.run = run
        self.limit = limit
        self.thread_pool = thread_pool

    async def run_step(self, step: Step) -> ExecutionResult:
        run = self.run
        inputs, params, options = run.step_call(step)
        if step.is_async:
            return await execute_step_async(run.executor, step, inputs, params, **options)
        pool = self.thread_pool or step_executor()
        return await run_in(pool, run.executor.execute_step, step, inputs, params, **options)

    async def execute(self) -> PipelineResult:
        run = self.run
        started = time.perf_counter()
        ready = ReadySteps(run, run.dag.topological_sort(), self.limit)
        running: dict[asyncio.Task[ExecutionResult], Step] = {}
        try:
            while ready.pending or running:
                for step in ready.take(len(running)):
                    running[asyncio.create_task(self.run_step(step), name=f"flowyml-step-{step.name}")] = step
                if not running:
                    continue
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    run.record(running.pop(task), task.result())
        except BaseException:
            for task in running:
                task.cancel()
            if running:
                await asyncio.wait(running)
            raise
        return run.finish(started)
