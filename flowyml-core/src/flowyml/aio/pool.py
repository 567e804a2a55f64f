"""``RunPool``: submit jobs as they come, stream their outcomes as they finish, shut down cleanly."""

from __future__ import annotations

__all__ = ["Batch", "PoolStats", "RunPool"]

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Generator, Iterable
from concurrent.futures import Executor
from typing import Any

import attrs

from flowyml.aio.jobs import ExecutionContext, RunOutcome, Tracker, as_job, cancelled, execute_job
from flowyml.core.status import ExecutionStatus

log = logging.getLogger("flowyml.aio")


@attrs.define(frozen=True)
class PoolStats:
    """A snapshot: ``pending`` jobs wait for a slot (or a retry), ``running`` hold one."""

    submitted: int
    pending: int
    running: int
    done: int
    succeeded: int
    failed: int
    cancelled: int
    timed_out: int
    queued_results: int

    def __getitem__(self, key: str) -> int:  # stats["running"], as the seed reads them
        return getattr(self, key)


class Batch:
    """The jobs of one ``submit_many``: ``await batch`` (outcomes in order) or ``async for`` (as they finish)."""

    def __init__(self, tasks: list[asyncio.Task[RunOutcome]]) -> None:
        self.tasks = tasks

    def __await__(self) -> Generator[Any, None, list[RunOutcome]]:
        return asyncio.gather(*self.tasks).__await__()

    async def __aiter__(self) -> AsyncIterator[RunOutcome]:
        for next_done in asyncio.as_completed(self.tasks):
            yield await next_done


class RunPool:
    """A long-lived runner for many jobs with at most ``max_concurrency`` at once.

    >>> async with RunPool(max_concurrency=8, timeout=600, retries=2) as pool:
    ...     pool.submit_many([pipeline_a, pipeline_b])
    ...     async for outcome in pool.results():
    ...         print(outcome.name, outcome.status)

    ``submit`` returns a task resolving to the job's :class:`RunOutcome`; every outcome is also
    queued for :meth:`results` (unless ``queue_results=False``) and passed to ``on_result``.
    Leaving the ``async with`` block drains the pool (or cancels it, after an exception).
    """

    def __init__(
        self,
        max_concurrency: int = 8,
        *,
        context: ExecutionContext | None = None,
        executor: Executor | None = None,
        timeout: float | None = None,
        retries: int = 0,
        retry_delay: float = 1.0,
        backoff: float = 2.0,
        on_result: Callable[[RunOutcome], Any] | None = None,
        queue_results: bool = True,
    ) -> None:
        if context is None:
            context = ExecutionContext(
                executor=executor, timeout=timeout, retries=retries, retry_delay=retry_delay, backoff=backoff
            )
        self.context = context.limited(max_concurrency)
        self.on_result = on_result
        self.queue_results = queue_results
        self._tracker = Tracker()
        self._tasks: set[asyncio.Task[RunOutcome]] = set()
        self._queue: asyncio.Queue[RunOutcome] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._closed = False
        self._count = 0
        self._finished: dict[ExecutionStatus, int] = dict.fromkeys(ExecutionStatus, 0)

    async def __aenter__(self) -> RunPool:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        await self.shutdown(cancel=exc_type is not None)

    # -- submitting --------------------------------------------------------------------------
    def submit(
        self, item: Any, name: str | None = None, *, timeout: float | None = None, retries: int | None = None
    ) -> asyncio.Task[RunOutcome]:
        """Start ``item`` (anything ``run_many`` accepts) as soon as a slot is free.

        ``timeout`` and ``retries`` override the pool's for this job.
        """
        if self._closed:
            raise RuntimeError("this RunPool is shut down and takes no more jobs")
        job = as_job(item, self.context.executor, name)
        if timeout is not None or retries is not None:
            job = attrs.evolve(
                job,
                timeout=job.timeout if timeout is None else timeout,
                retries=job.retries if retries is None else retries,
            )
        index = self._count
        self._count += 1
        task = asyncio.create_task(execute_job(job, self.context, index, self._tracker), name=f"flowyml-job-{job.name}")
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._done(t, index, job))
        return task

    def submit_many(self, items: Iterable[Any]) -> Batch:
        return Batch([self.submit(item) for item in items])

    def _done(self, task: asyncio.Task[RunOutcome], index: int, job: Any) -> None:
        self._tasks.discard(task)
        outcome = cancelled(index, job) if task.cancelled() else task.result()
        self._finished[outcome.status] += 1
        if self.queue_results:
            self._queue.put_nowait(outcome)
        if self.on_result is not None:
            try:
                self.on_result(outcome)
            except Exception:
                log.exception("on_result callback failed for job %s", outcome.name)
        self._changed.set()

    # -- watching ----------------------------------------------------------------------------
    async def results(self) -> AsyncIterator[RunOutcome]:
        """Outcomes as jobs finish, until every job submitted so far is done and read."""
        while True:
            if not self._queue.empty():
                yield self._queue.get_nowait()
                continue
            if not self._tasks:
                return
            self._changed.clear()
            await self._changed.wait()

    def __aiter__(self) -> AsyncIterator[RunOutcome]:
        return self.results()

    def stats(self) -> PoolStats:
        f = self._finished
        done = sum(f.values())
        running = self._tracker.running
        return PoolStats(
            submitted=self._count,
            pending=len(self._tasks) - running,
            running=running,
            done=done,
            succeeded=f[ExecutionStatus.COMPLETED],
            failed=f[ExecutionStatus.FAILED],
            cancelled=f[ExecutionStatus.CANCELLED],
            timed_out=f[ExecutionStatus.TIMED_OUT],
            queued_results=self._queue.qsize(),
        )

    get_stats = stats

    # -- stopping ----------------------------------------------------------------------------
    async def shutdown(self, *, cancel: bool = False, timeout: float | None = None) -> None:
        """Take no more jobs; then wait for the running ones (drain) or cancel them.

        A drain that takes longer than ``timeout`` seconds cancels what is left.
        """
        self._closed = True
        tasks = set(self._tasks)
        if not tasks:
            return
        if not cancel:
            _, tasks = await asyncio.wait(tasks, timeout=timeout)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
            from flowyml.orchestrators.asyncops import settle_cancellations

            await settle_cancellations()  # a remote submit cancelled in flight: its run is cancelled too

    async def drain(self) -> None:
        await self.shutdown()
