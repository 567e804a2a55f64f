"""``await flowyml.aio.run_many([...], max_concurrency=8, timeout=..., retries=...)``."""

from __future__ import annotations

__all__ = ["BatchFailedError", "iter_many", "run_many"]

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import Executor
from typing import Any

import attrs

from flowyml.aio.jobs import ExecutionContext, RunOutcome, adapt_all
from flowyml.aio.pool import RunPool
from flowyml.aio.strategies import ConcurrentStrategy, Strategy
from flowyml.core.errors import FlowymlError


class BatchFailedError(FlowymlError):
    """``run_many(..., raise_on_error=True)`` had jobs that did not complete; ``outcomes`` has them all."""

    def __init__(self, outcomes: Sequence[RunOutcome]) -> None:
        bad = [o for o in outcomes if not o.ok]
        names = ", ".join(f"{o.name} ({o.status.name})" for o in bad[:5])
        super().__init__(f"{len(bad)} of {len(outcomes)} jobs did not complete: {names}")
        self.outcomes = list(outcomes)


async def iter_many(
    items: Iterable[Any],
    *,
    max_concurrency: int = 8,
    timeout: float | None = None,
    retries: int = 0,
    retry_delay: float = 1.0,
    backoff: float = 2.0,
    executor: Executor | None = None,
) -> AsyncIterator[RunOutcome]:
    """``async for outcome in iter_many([...])``: like :func:`run_many`, yielding outcomes as jobs end.

    Closing the generator early cancels the jobs still running (and their remote runs); use
    ``async with contextlib.aclosing(iter_many(...)) as outcomes:`` so that happens at once.
    """
    pool = RunPool(
        max_concurrency,
        executor=executor,
        timeout=timeout,
        retries=retries,
        retry_delay=retry_delay,
        backoff=backoff,
    )
    pool.submit_many(items)
    finished = False
    try:
        async for outcome in pool.results():
            yield outcome
        finished = True
    finally:
        await pool.shutdown(cancel=not finished)


async def run_many(
    items: Iterable[Any],
    *,
    max_concurrency: int | None = 8,
    timeout: float | None = None,
    retries: int = 0,
    retry_delay: float = 1.0,
    backoff: float = 2.0,
    strategy: Strategy | None = None,
    stop_on_first_error: bool = False,
    executor: Executor | None = None,
    context: ExecutionContext | None = None,
    on_result: Callable[[RunOutcome], Any] | None = None,
    raise_on_error: bool = False,
) -> list[RunOutcome]:
    """Run pipelines, remote runs and callables together; one :class:`RunOutcome` per item, in order.

    ``timeout`` is per job and per attempt (a timed-out job is TIMED_OUT, and a remote run it was
    waiting on is cancelled); ``retries`` re-runs failed jobs with exponential backoff
    (``retry_delay * backoff**n``). ``strategy`` defaults to :class:`ConcurrentStrategy`; pass
    ``SequentialStrategy()`` or ``StagedStrategy([...])`` to order them. ``on_result`` sees each
    outcome as soon as its job ends. Failures are reported in the outcomes, or raised together as
    :class:`BatchFailedError` with ``raise_on_error``.
    """
    if context is None:
        context = ExecutionContext(
            executor=executor,
            timeout=timeout,
            retries=retries,
            retry_delay=retry_delay,
            backoff=backoff,
            stop_on_first_error=stop_on_first_error,
        )
    if on_result is not None:
        context = attrs.evolve(context, on_result=on_result)
    jobs = adapt_all(items, context.executor)
    if strategy is None:
        strategy = ConcurrentStrategy(max_concurrency)
    elif max_concurrency is not None and context.semaphore is None:
        context = context.limited(max_concurrency)
    outcomes = await strategy.execute(jobs, context)
    if raise_on_error and any(not o.ok for o in outcomes):
        raise BatchFailedError(outcomes)
    return outcomes
