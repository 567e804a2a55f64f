"""Async twins of the remote API: submit, status, stop, logs and wait — blocking SDK calls in threads.

``RemoteOrchestrator.*_async`` and ``SubmissionResult.wait_async`` are these functions;
:mod:`flowyml.aio` re-exports them.

Cancelling a task that awaits a run (``wait_async``, or a submit still in flight) cancels the
remote run: ``stop_run`` is called and the run is watched until it reads CANCELLED (bounded by
``cancel_grace``). A wait that runs out of time raises ``flowyml.core.errors.RunTimedOutError`` (status
TIMED_OUT) and leaves the run going unless ``cancel_on_timeout=True`` — it never reports FAILED.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from flowyml.aio.threads import run_blocking, run_in, submit_executor
from flowyml.core.errors import RunFailedError, RunTimedOutError, TransientBackendError
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators.retries import follow_retries_async
from flowyml.plugins.polling import poll_until_async
from flowyml.plugins.types import LogRecord, StatusReport

if TYPE_CHECKING:
    from flowyml.orchestrators.remote import RemoteOrchestrator
    from flowyml.orchestrators.submission import SubmissionResult

log = logging.getLogger("flowyml.aio")

#: Seconds a cancelled wait keeps watching the run for CANCELLED before giving up.
DEFAULT_CANCEL_GRACE = 30.0


# -- one call each -----------------------------------------------------------------------------
async def submit_async(
    orchestrator: RemoteOrchestrator, pipeline: Any, run_id: str | None = None, **kwargs: Any
) -> SubmissionResult:
    """``orchestrator.run_pipeline`` in a worker thread.

    If the awaiting task is cancelled while the submit is in flight, the submit is allowed to
    finish and the run it created is cancelled, so no orphan keeps running.
    """
    submit = run_in(submit_executor(), orchestrator.run_pipeline, pipeline, run_id=run_id, **kwargs)
    future = asyncio.ensure_future(submit)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(_cancel_orphan)
        _background.add(future)  # until its run is being cancelled: see settle_cancellations()
        future.add_done_callback(_background.discard)
        raise


def _cancel_orphan(future: asyncio.Future[SubmissionResult]) -> None:
    if future.cancelled() or future.exception() is not None:
        return
    sub = future.result()
    log.warning("submit of %s was cancelled after it reached the backend: cancelling the run", sub.run_id)
    task = asyncio.ensure_future(_stop_and_confirm(sub, DEFAULT_CANCEL_GRACE, 0.5))
    _background.add(task)
    task.add_done_callback(_background.discard)


_background: set[asyncio.Future[Any]] = set()


async def settle_cancellations(timeout: float | None = DEFAULT_CANCEL_GRACE) -> bool:
    """Wait for the cancellations this loop carries on in the background (a submit cancelled in
    flight, a wait cancelled twice) to finish; False if ``timeout`` ran out first. Call it before
    the loop ends (a shutdown), or those runs may be left going."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while True:
        mine = {f for f in _background if f.get_loop() is loop}
        if not mine:
            return True
        left = None if deadline is None else deadline - loop.time()
        if left is not None and left <= 0:
            return False
        await asyncio.wait(mine, timeout=left)


async def get_status_report_async(orchestrator: RemoteOrchestrator, job_id: str) -> StatusReport:
    return await run_blocking(orchestrator.get_status_report, job_id)


async def get_run_status_async(orchestrator: RemoteOrchestrator, job_id: str) -> ExecutionStatus:
    """The run's status now, read in a worker thread."""
    return (await get_status_report_async(orchestrator, job_id)).status


async def stop_run_async(orchestrator: RemoteOrchestrator, job_id: str, graceful: bool = True) -> None:
    """Request cancellation (the status reads STOPPING until the backend confirms CANCELLED)."""
    await run_blocking(orchestrator.stop_run, job_id, graceful=graceful)


async def iter_logs_async(
    orchestrator: RemoteOrchestrator,
    job_id: str,
    cursor: str | None = None,
    follow: bool = False,
    poll_interval: float | None = None,
) -> AsyncIterator[LogRecord]:
    """``async for record in iter_logs_async(orch, run_id, follow=True)``: each read in a worker thread."""
    records: Iterator[LogRecord] = await run_blocking(
        orchestrator.iter_logs, job_id, cursor=cursor, follow=follow, poll_interval=poll_interval
    )
    try:
        while True:
            record: LogRecord | None = await run_blocking(next, records, None)
            if record is None:
                return
            yield record
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            await asyncio.shield(run_blocking(_close_quietly, close))


def _close_quietly(close: Any) -> None:
    try:
        close()
    except ValueError as exc:  # "generator already executing": a read is still in its thread
        log.debug("log stream not closed: %s", exc)


def stream_logs_async(
    orchestrator: RemoteOrchestrator, job_id: str, poll_interval: float | None = None
) -> AsyncIterator[LogRecord]:
    """Follow the run's logs until it ends (async twin of ``stream_logs``)."""
    return iter_logs_async(orchestrator, job_id, follow=True, poll_interval=poll_interval)


# -- waiting -----------------------------------------------------------------------------------
async def wait_async(
    submission: SubmissionResult,
    timeout: float | None = None,
    poll_interval: float = 10.0,
    *,
    raise_on_failure: bool = True,
    cancel_on_timeout: bool = False,
    cancel_on_cancel: bool = True,
    cancel_grace: float = DEFAULT_CANCEL_GRACE,
) -> ExecutionStatus:
    """Await the end of a remote run; the async twin of ``wait_for_completion``.

    Polls with the same backoff (0.2 s growing to ``poll_interval``); a status call that fails
    transiently is logged and polled again. Returns the final status; raises
    :class:`RunFailedError` if the run FAILED or was CANCELLED (unless ``raise_on_failure=False``)
    and :class:`RunTimedOutError` after ``timeout`` seconds (stopping the run first if
    ``cancel_on_timeout``). If the awaiting task is cancelled, the run is stopped
    (``cancel_on_cancel``) and watched until CANCELLED for up to ``cancel_grace`` seconds.
    """
    try:
        report = await follow_retries_async(
            submission, lambda left: _poll_until_finished(submission, left, poll_interval), timeout
        )
    except asyncio.CancelledError:
        if cancel_on_cancel:
            cleanup = asyncio.ensure_future(_stop_and_confirm(submission, cancel_grace, min(poll_interval, 0.5)))
            try:
                await asyncio.shield(cleanup)
            except asyncio.CancelledError:  # cancelled again: the cleanup goes on in the background
                _background.add(cleanup)
                cleanup.add_done_callback(_background.discard)
            except Exception as exc:
                log.warning("could not cancel run %s after its wait was cancelled: %s", submission.run_id, exc)
        raise
    if report is None:
        assert timeout is not None
        final = None
        stopped = False
        if cancel_on_timeout:
            try:
                final = await _stop_and_confirm(submission, cancel_grace, min(poll_interval, 0.5))
                stopped = True
            except Exception as exc:  # the timeout is still the news; the failed cancel is logged
                log.warning("could not cancel run %s after its wait timed out: %s", submission.run_id, exc)
        raise RunTimedOutError(submission.run_id, timeout, cancelled=stopped, final=final)
    if raise_on_failure and not report.status.is_successful:
        raise RunFailedError(submission.run_id, report.status, report.message)
    return report.status


_poll_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def poll_slots() -> asyncio.Semaphore:
    """This loop's limit on status polls in flight (``$FLOWYML_AIO_MAX_POLLS``, default 8).

    Waiting on hundreds of runs must not wake hundreds of threads at once: every busy Python
    thread competes with the event loop for the GIL. Polls beyond the limit wait on the loop,
    which costs nothing.
    """
    loop = asyncio.get_running_loop()
    slots = _poll_slots.get(loop)
    if slots is None:
        slots = _poll_slots[loop] = asyncio.Semaphore(int(os.environ.get("FLOWYML_AIO_MAX_POLLS", "8")))
    return slots


async def _report(submission: SubmissionResult) -> StatusReport:
    async with poll_slots():
        # in the worker thread: a re-attached submission builds its orchestrator (plugin loading)
        # there, and by handle rather than run id saves a registry read per poll
        return await run_blocking(lambda: submission.orchestrator.get_status_report(submission.handle))


async def _poll_until_finished(
    submission: SubmissionResult, timeout: float | None, poll_interval: float
) -> StatusReport | None:
    """The final report, or None when ``timeout`` passed first (the one poll loop, async)."""
    return await poll_until_async(
        lambda: _report(submission),
        lambda r: r.status.is_finished,
        timeout=timeout,
        poll_interval=poll_interval,
        what=f"status of {submission.run_id}",
    )


async def _stop_and_confirm(submission: SubmissionResult, grace: float, poll: float) -> ExecutionStatus | None:
    """Ask the backend to cancel, then watch until the run is finished (None if ``grace`` ran out)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace

    async def ask() -> bool:
        await run_blocking(submission.cancel)
        return True

    # the one poll loop: a cancel that fails transiently is asked again every ``poll`` s until ``grace``
    asked = await poll_until_async(
        ask, bool, timeout=grace, poll_interval=poll, initial=poll, what=f"cancel of {submission.run_id}"
    )
    if asked is None:
        raise TransientBackendError(
            f"run {submission.run_id!r} could not be asked to cancel within {grace:g}s: "
            "the backend could not be reached"
        )
    report = await _poll_until_finished(submission, max(0.0, deadline - loop.time()), poll)
    if report is None:
        log.warning("run %s was asked to cancel but is not finished after %gs", submission.run_id, grace)
        return None
    log.info("run %s ended %s after cancellation", submission.run_id, report.status.name)
    return report.status
