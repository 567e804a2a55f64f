"""Waiting, with backoff and jitter: the one poll loop (sync and async) and the one log follower.

``SubmissionResult.wait_for_completion`` and its async twin, ``flowyml status --watch``-style
live output, ``flowyml logs -f`` and every backend's log follow use these; nothing else in
flowyml sleeps in a loop waiting for a service.
"""

from __future__ import annotations

__all__ = ["Backoff", "poll_until", "poll_until_async", "follow"]

import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TypeVar

from flowyml.core.errors import TransientBackendError

T = TypeVar("T")
log = logging.getLogger("flowyml.polling")


class Backoff:
    """Delays that start at ``initial`` and grow by ``factor`` up to ``maximum``, with ±``jitter``.

    Jitter keeps many waiters (threads, processes, people) from polling a service in lockstep.
    """

    def __init__(self, maximum: float, initial: float = 0.2, factor: float = 1.5, jitter: float = 0.2) -> None:
        self.maximum = max(0.0, maximum)
        self.delay = min(initial, self.maximum)
        self.factor = factor
        self.jitter = jitter

    def next(self, deadline: float | None = None) -> float:
        """The next pause in seconds (never past ``deadline``, a ``time.monotonic()`` value)."""
        pause = self.delay * random.uniform(1 - self.jitter, 1 + self.jitter)
        self.delay = min(self.maximum, self.delay * self.factor)
        if deadline is not None:
            pause = max(0.0, min(pause, deadline - time.monotonic()))
        return pause


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def poll_until(
    probe: Callable[[], T | None],
    done: Callable[[T], bool],
    *,
    timeout: float | None = None,
    poll_interval: float = 10.0,
    initial: float = 0.2,
    what: str = "poll",
) -> T | None:
    """Call ``probe`` until ``done(value)``; return that value, or None once ``timeout`` passed.

    ``probe`` may return None (nothing known yet) or raise ``TransientBackendError`` (logged,
    polled again): an unreachable service is never taken for an answer.
    """
    deadline = _deadline(timeout)
    backoff = Backoff(poll_interval, initial)
    while True:
        try:
            value = probe()
        except TransientBackendError as exc:
            log.warning("%s: state unknown for now: %s", what, exc)
            value = None
        if value is not None and done(value):
            return value
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(backoff.next(deadline))


async def poll_until_async(
    probe: Callable[[], Awaitable[T | None]],
    done: Callable[[T], bool],
    *,
    timeout: float | None = None,
    poll_interval: float = 10.0,
    initial: float = 0.2,
    what: str = "poll",
) -> T | None:
    """The async twin of :func:`poll_until` (``probe`` is a coroutine function)."""
    deadline = _deadline(timeout)
    backoff = Backoff(poll_interval, initial)
    while True:
        try:
            value = await probe()
        except TransientBackendError as exc:
            log.warning("%s: state unknown for now: %s", what, exc)
            value = None
        if value is not None and done(value):
            return value
        if deadline is not None and time.monotonic() >= deadline:
            return None
        import asyncio  # here: the sync callers (flowyml status, logs) do not load asyncio

        await asyncio.sleep(backoff.next(deadline))


def follow(
    read_pass: Callable[[str | None], Iterable[T]],
    cursor_of: Callable[[T], str | None],
    is_finished: Callable[[], bool],
    *,
    cursor: str | None = None,
    poll_interval: float = 2.0,
    settle: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[T]:
    """Yield records pass after pass until the run has ended and one more pass found the rest.

    The run's state is read *before* each pass, so every record written before the end is read
    by the pass that follows it. ``settle`` keeps reading that many seconds after the end, for
    log services that ingest late. A transient error in ``is_finished`` counts as "not yet"; one
    in a pass (a throttled log API) is waited out with backoff and the pass resumes from the
    last record's cursor.
    """
    ended_at: float | None = None
    backoff = Backoff(max(poll_interval * 8, 1.0), poll_interval)
    while True:
        if ended_at is None:
            try:
                if is_finished():
                    ended_at = time.monotonic()
            except TransientBackendError as exc:
                log.warning("following logs: run state unknown for now: %s", exc)
        try:
            for record in read_pass(cursor):
                cursor = cursor_of(record) or cursor
                yield record
        except TransientBackendError as exc:  # a throttled log API: read the rest on the next pass
            log.warning("following logs: the log service failed for now, reading on: %s", exc)
            sleep(backoff.next())
            continue
        backoff = Backoff(poll_interval, poll_interval)
        if ended_at is not None and time.monotonic() - ended_at >= settle:
            return
        sleep(poll_interval if ended_at is None else min(poll_interval, settle))
