"""What ``run_many`` and ``RunPool`` run: jobs, their outcomes, and the execution context.

A *job* is anything awaitable-ish: a ``Pipeline`` (run locally with ``run_async``), a
``SubmissionResult`` (awaited with ``wait_async``), :func:`remote` (submit, then wait), a
coroutine function, a sync callable (run in the context's executor), or an awaitable (run once).
"""

from __future__ import annotations

__all__ = ["ExecutionContext", "Job", "RunOutcome", "as_job", "execute_job", "remote"]

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import Executor
from typing import Any

import attrs

from flowyml.aio.threads import run_in, to_async
from flowyml.core.errors import RunFailedError, StepFailedError
from flowyml.core.status import ExecutionStatus

log = logging.getLogger("flowyml.aio")
_TIMEOUTS = (asyncio.TimeoutError, TimeoutError)


@attrs.define
class Job:
    """A named unit of work: ``factory()`` returns a fresh awaitable per attempt.

    ``sync`` is set for a plain callable: it then runs in the context's executor, if it has one.
    ``timeout`` and ``retries`` override the context's for this job only. ``for_run(run_id, context)``,
    when set, makes a fresh job for one more run (what a ``PipelineRunner`` calls on each firing).
    """

    name: str
    factory: Callable[[], Awaitable[Any]]
    retryable: bool = True
    sync: Callable[[], Any] | None = None
    timeout: float | None = None
    retries: int | None = None
    for_run: Callable[[str | None, Mapping[str, Any] | None], Job] | None = None


@attrs.define
class RunOutcome:
    """How one job ended: COMPLETED, FAILED, CANCELLED or TIMED_OUT, with its value or error."""

    index: int
    name: str
    status: ExecutionStatus
    value: Any = None
    error: BaseException | None = None
    attempts: int = 0
    duration_seconds: float = 0.0
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.status is ExecutionStatus.COMPLETED

    def unwrap(self) -> Any:
        """The value, or raise the job's error."""
        if self.error is not None:
            raise self.error
        if not self.ok:
            raise asyncio.CancelledError(f"job {self.name!r} was {self.status.name}")
        return self.value


@attrs.define
class ExecutionContext:
    """Shared settings of a batch: the executor for sync callables, the concurrency limit, the
    default per-job ``timeout``, retries with exponential backoff, and ``stop_on_first_error``.

    ``async with ExecutionContext(executor=ThreadPoolExecutor(4)) as ctx:`` shuts the executor
    down on exit. Timeouts are not retried unless ``retry_on_timeout``. ``on_result`` sees each
    outcome the moment its job ends.
    """

    executor: Executor | None = None
    semaphore: asyncio.Semaphore | None = None
    timeout: float | None = None
    retries: int = 0
    retry_delay: float = 1.0
    backoff: float = 2.0
    max_retry_delay: float = 60.0
    stop_on_first_error: bool = False
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    retry_on_timeout: bool = False
    on_result: Callable[[RunOutcome], Any] | None = None

    def emit(self, outcome: RunOutcome) -> RunOutcome:
        """Hand a finished job's outcome to ``on_result`` (as soon as it is known); returns it."""
        if self.on_result is not None:
            try:
                self.on_result(outcome)
            except Exception:
                log.exception("on_result callback failed for job %s", outcome.name)
        return outcome

    @classmethod
    def create(cls, max_concurrency: int | None = None, **kwargs: Any) -> ExecutionContext:
        if max_concurrency is not None:
            if max_concurrency < 1:
                raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
            kwargs["semaphore"] = asyncio.Semaphore(max_concurrency)
        return cls(**kwargs)

    def limited(self, max_concurrency: int | None) -> ExecutionContext:
        """A copy with its own limit of ``max_concurrency`` jobs at once (None: unchanged)."""
        if max_concurrency is None:
            return self
        return attrs.evolve(self, semaphore=asyncio.Semaphore(max_concurrency))

    async def __aenter__(self) -> ExecutionContext:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.executor is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.executor.shutdown)


def remote(orchestrator: Any, pipeline: Any, *, run_id: str | None = None, **kwargs: Any) -> Job:
    """A job that submits ``pipeline`` to ``orchestrator`` and waits for it (returns the SubmissionResult).

    ``kwargs`` go to ``run_pipeline`` (``timeout`` there is the backend's limit on the run)
    except these, which go to ``wait_async``: ``poll_interval`` (default 2 s), ``wait_timeout``
    (its ``timeout``), ``cancel_on_timeout``, ``cancel_on_cancel``, ``cancel_grace``. A retry
    submits a new run (``<run_id>-retry<n>``); cancelling the job, or its timeout in a batch,
    cancels the remote run unless ``cancel_on_cancel=False``.
    """
    from flowyml.aio.remote_ops import submit_async, wait_async

    names = ("poll_interval", "wait_timeout", "cancel_on_timeout", "cancel_on_cancel", "cancel_grace")
    original = dict(kwargs)
    wait_options = {k: kwargs.pop(k) for k in names if k in kwargs}
    wait_options.setdefault("poll_interval", 2.0)
    if "wait_timeout" in wait_options:
        wait_options["timeout"] = wait_options.pop("wait_timeout")
    attempt = 0

    async def submit_and_wait() -> Any:
        nonlocal attempt
        rid = run_id if run_id is None or attempt == 0 else f"{run_id}-retry{attempt}"
        attempt += 1
        sub = await submit_async(orchestrator, pipeline, run_id=rid, **kwargs)
        await wait_async(sub, **wait_options)
        return sub

    def for_run(new_run_id: str | None, context: Mapping[str, Any] | None) -> Job:
        options = dict(original)
        if context:
            options["context"] = {**(original.get("context") or {}), **context}
        return remote(orchestrator, pipeline, run_id=new_run_id, **options)

    name = str(run_id or getattr(pipeline, "name", None) or "remote")
    return Job(name=name, factory=submit_and_wait, for_run=for_run)


def as_job(item: Any, executor: Executor | None = None, name: str | None = None) -> Job:
    """Adapt anything ``run_many`` accepts into a :class:`Job`."""
    from flowyml.core.pipeline import Pipeline
    from flowyml.orchestrators import SubmissionResult

    if isinstance(item, Job):
        return item if name is None else attrs.evolve(item, name=name)
    if isinstance(item, Pipeline):
        from flowyml.aio.local import run_local_async

        return Job(name or item.name, lambda: run_local_async(item))
    if isinstance(item, SubmissionResult):
        from flowyml.aio.remote_ops import wait_async

        return Job(name or item.run_id, lambda: _wait_returning(item, wait_async), retryable=False)
    if inspect.isawaitable(item):
        return Job(name or _name_of(item), _once(item), retryable=False)
    if callable(item):
        if asyncio.iscoroutinefunction(item) or executor is not None:
            return Job(name or _name_of(item), to_async(item, executor))
        return Job(name or _name_of(item), to_async(item), sync=item)
    raise TypeError(
        f"cannot run {item!r}: expected a Pipeline, SubmissionResult, flowyml.aio.remote(...), "
        "coroutine function, callable or awaitable"
    )


async def _wait_returning(sub: Any, wait: Callable[..., Awaitable[Any]]) -> Any:
    await wait(sub, poll_interval=2.0)
    return sub


def _once(awaitable: Awaitable[Any]) -> Callable[[], Awaitable[Any]]:
    used = False

    def factory() -> Awaitable[Any]:
        nonlocal used
        if used:
            raise RuntimeError("an awaitable can only run once; pass a coroutine function to retry it")
        used = True
        return awaitable

    return factory


def _name_of(obj: Any) -> str:
    code = getattr(obj, "cr_code", None)
    return getattr(obj, "__qualname__", None) or getattr(code, "co_name", None) or type(obj).__name__


def _failure_of(value: Any) -> BaseException | None:
    """A failed PipelineResult counts as a failed job (the result is kept on the outcome)."""
    from flowyml.core.pipeline import PipelineResult

    if isinstance(value, PipelineResult) and not value.success:
        name = value.failed_steps[0] if value.failed_steps else value.pipeline_name
        return StepFailedError(name, value.error or "failed")
    return None


def _status_of(error: BaseException) -> ExecutionStatus:
    if isinstance(error, _TIMEOUTS):
        return ExecutionStatus.TIMED_OUT
    if isinstance(error, RunFailedError) and isinstance(error.status, ExecutionStatus):
        return error.status  # a remote run that was CANCELLED or TIMED_OUT stays that
    return ExecutionStatus.FAILED


class Tracker:
    """Counts what a batch or pool is doing (``running`` holds a concurrency slot)."""

    def __init__(self) -> None:
        self.running = 0

    def started(self) -> None:
        self.running += 1

    def stopped(self) -> None:
        self.running -= 1


async def execute_job(job: Job, ctx: ExecutionContext, index: int = 0, tracker: Tracker | None = None) -> RunOutcome:
    """Run ``job`` under ``ctx``: concurrency slot, per-attempt timeout, retries with backoff.

    Never raises for the job's own errors: they are in the outcome. Cancellation propagates
    (callers turn a cancelled job task into a CANCELLED outcome with :func:`cancelled`).
    """
    start = time.monotonic()
    attempts = 0
    delay = ctx.retry_delay
    retries = ctx.retries if job.retries is None else job.retries
    max_attempts = 1 + (retries if job.retryable else 0)
    value: Any = None
    while True:
        attempts += 1
        error: BaseException | None = None
        try:
            value = await _attempt(job, ctx, tracker)
            error = _failure_of(value)
        except _TIMEOUTS as exc:
            error = exc if str(exc) else TimeoutError(f"job {job.name!r} timed out after {_timeout(job, ctx):g}s")
        except Exception as exc:
            error = exc
        if error is None:
            return RunOutcome(index, job.name, ExecutionStatus.COMPLETED, value, None, attempts, _since(start))
        retry = ctx.retry_on_timeout if isinstance(error, _TIMEOUTS) else isinstance(error, ctx.retry_on)
        retry = retry and attempts < max_attempts
        if not retry:
            status = _status_of(error)
            return RunOutcome(index, job.name, status, value, error, attempts, _since(start))
        wait = min(delay, ctx.max_retry_delay)
        log.warning("job %s failed (%s); retry %d/%d in %.2fs", job.name, error, attempts, max_attempts - 1, wait)
        await asyncio.sleep(wait)
        delay *= ctx.backoff


async def _attempt(job: Job, ctx: ExecutionContext, tracker: Tracker | None) -> Any:
    if ctx.semaphore is None:
        return await _timed(job, ctx, tracker)
    async with ctx.semaphore:
        return await _timed(job, ctx, tracker)


async def _timed(job: Job, ctx: ExecutionContext, tracker: Tracker | None) -> Any:
    if tracker is not None:
        tracker.started()
    try:
        awaitable: Awaitable[Any]
        if job.sync is not None and ctx.executor is not None:
            awaitable = run_in(ctx.executor, job.sync)
        else:
            awaitable = job.factory()
        timeout = _timeout(job, ctx)
        if timeout is None:
            return await _resolve(awaitable)
        return await asyncio.wait_for(_resolve(awaitable), timeout)
    finally:
        if tracker is not None:
            tracker.stopped()


def _timeout(job: Job, ctx: ExecutionContext) -> float | None:
    return ctx.timeout if job.timeout is None else job.timeout


async def _resolve(awaitable: Awaitable[Any]) -> Any:
    """Await; a sync callable that returned a coroutine (``lambda: train(...)``) has it awaited too."""
    value = await awaitable
    if inspect.isawaitable(value):
        value = await value
    return value


def _since(start: float) -> float:
    return time.monotonic() - start


def cancelled(index: int, job: Job, error: BaseException | None = None) -> RunOutcome:
    """The outcome of a job whose task was cancelled (shutdown, stop on first error)."""
    return RunOutcome(index, job.name, ExecutionStatus.CANCELLED, error=error or asyncio.CancelledError())


def skipped(index: int, job: Job, reason: str) -> RunOutcome:
    """The outcome of a job that never started (an earlier job failed)."""
    return RunOutcome(index, job.name, ExecutionStatus.CANCELLED, error=asyncio.CancelledError(reason), skipped=True)


def adapt_all(items: Iterable[Any], executor: Executor | None) -> list[Job]:
    return [as_job(item, executor) for item in items]
