"""How a batch of jobs runs: one after another, all at once (up to a limit), or in ordered stages."""

from __future__ import annotations

__all__ = ["Strategy", "SequentialStrategy", "ConcurrentStrategy", "StagedStrategy"]

import asyncio
import functools
from collections.abc import Sequence

from flowyml.aio.jobs import ExecutionContext, Job, RunOutcome, Tracker, cancelled, execute_job, skipped


class Strategy:
    """Runs jobs under a context and returns one outcome per job, in input order."""

    async def execute(self, jobs: Sequence[Job], context: ExecutionContext | None = None) -> list[RunOutcome]:
        raise NotImplementedError


class SequentialStrategy(Strategy):
    """One job at a time, in order; with ``stop_on_first_error`` the rest are skipped after a failure."""

    def __init__(self, stop_on_first_error: bool | None = None) -> None:
        self.stop_on_first_error = stop_on_first_error

    async def execute(self, jobs: Sequence[Job], context: ExecutionContext | None = None) -> list[RunOutcome]:
        ctx = context or ExecutionContext()
        stop = ctx.stop_on_first_error if self.stop_on_first_error is None else self.stop_on_first_error
        outcomes: list[RunOutcome] = []
        for i, job in enumerate(jobs):
            if stop and any(not o.ok for o in outcomes):
                outcomes.append(ctx.emit(skipped(i, job, "skipped: an earlier job failed")))
                continue
            outcomes.append(ctx.emit(await execute_job(job, ctx, i)))
        return outcomes


class ConcurrentStrategy(Strategy):
    """All jobs at once, at most ``max_concurrency`` running (default: the context's limit).

    With ``stop_on_first_error`` the first failure cancels the jobs still running or waiting.
    """

    def __init__(self, max_concurrency: int | None = None, stop_on_first_error: bool | None = None) -> None:
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.max_concurrency = max_concurrency
        self.stop_on_first_error = stop_on_first_error

    async def execute(
        self, jobs: Sequence[Job], context: ExecutionContext | None = None, indices: Sequence[int] | None = None
    ) -> list[RunOutcome]:
        ctx = (context or ExecutionContext()).limited(self.max_concurrency)
        stop = ctx.stop_on_first_error if self.stop_on_first_error is None else self.stop_on_first_error
        indices = list(range(len(jobs))) if indices is None else list(indices)
        tracker = Tracker()
        tasks = []
        for i, job in zip(indices, jobs, strict=True):
            task = asyncio.create_task(execute_job(job, ctx, i, tracker), name=f"flowyml-job-{job.name}")
            task.add_done_callback(functools.partial(_emit_done, ctx, i, job))
            tasks.append(task)
        try:
            if stop:
                pending = set(tasks)
                while pending:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    if any(not t.cancelled() and not t.result().ok for t in done):
                        for t in pending:
                            t.cancel()
                        if pending:
                            await asyncio.wait(pending)
                        break
            else:
                await asyncio.wait(tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.wait(tasks)
            raise
        return [
            cancelled(i, job) if t.cancelled() else t.result() for i, job, t in zip(indices, jobs, tasks, strict=True)
        ]


def _emit_done(ctx: ExecutionContext, index: int, job: Job, task: asyncio.Task[RunOutcome]) -> None:
    ctx.emit(cancelled(index, job) if task.cancelled() else task.result())


class StagedStrategy(Strategy):
    """Stages in order, the jobs of a stage concurrently: ``StagedStrategy([[0, 1], [2], [3, 4]])``.

    Every job index must appear in exactly one stage. With ``stop_on_first_error`` a failed
    stage skips the stages after it.
    """

    def __init__(
        self,
        stages: Sequence[Sequence[int]],
        max_concurrency: int | None = None,
        stop_on_first_error: bool | None = None,
    ) -> None:
        self.stages = [list(stage) for stage in stages]
        self.max_concurrency = max_concurrency
        self.stop_on_first_error = stop_on_first_error

    def _check(self, count: int) -> None:
        seen = [i for stage in self.stages for i in stage]
        if sorted(seen) != list(range(count)):
            raise ValueError(f"stages {self.stages} must name each of the {count} jobs (0..{count - 1}) exactly once")

    async def execute(self, jobs: Sequence[Job], context: ExecutionContext | None = None) -> list[RunOutcome]:
        self._check(len(jobs))
        ctx = (context or ExecutionContext()).limited(self.max_concurrency)
        stop = ctx.stop_on_first_error if self.stop_on_first_error is None else self.stop_on_first_error
        results: dict[int, RunOutcome] = {}
        failed = False
        for stage in self.stages:
            if failed and stop:
                results.update({i: ctx.emit(skipped(i, jobs[i], "skipped: an earlier stage failed")) for i in stage})
                continue
            outcomes = await ConcurrentStrategy(stop_on_first_error=stop).execute([jobs[i] for i in stage], ctx, stage)
            results.update({o.index: o for o in outcomes})
            failed = failed or any(not o.ok for o in outcomes)
        return [results[i] for i in range(len(jobs))]
