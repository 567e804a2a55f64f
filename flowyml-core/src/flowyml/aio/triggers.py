"""When a :class:`~flowyml.aio.PipelineRunner` starts a run: triggers it polls every ``trigger_poll_interval``.

Subclass :class:`AsyncTrigger` and write ``async def should_trigger(self) -> TriggerResult`` for your
own condition (a message on a queue, a file appearing). Built in: :class:`IntervalTrigger`,
:class:`CronTrigger` and :class:`ExternalTrigger` (fired from code).
"""

from __future__ import annotations

__all__ = ["AsyncTrigger", "TriggerResult", "IntervalTrigger", "CronTrigger", "ExternalTrigger"]

import collections
import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from flowyml.aio.cron import CronSchedule


@attrs.define(frozen=True)
class TriggerResult:
    """One answer of a trigger: fire now or not; ``context`` goes to that run (merged over the pipeline's)."""

    should_run: bool
    context: Mapping[str, Any] | None = None
    reason: str | None = None


class AsyncTrigger:
    """Base class of every trigger. Override :meth:`should_trigger`; :meth:`reset` runs at the runner's start.

    A trigger belongs to one pipeline of one runner. ``should_trigger`` may await (it runs on the
    runner's loop; put blocking calls in ``flowyml.aio.run_blocking``) and may return a plain
    ``True``/``False``; an exception it raises is reported to the runner's ``error_callback`` and
    the trigger is polled again next time.
    """

    def __init__(self) -> None:
        self._waker: Callable[[], None] | None = None

    async def should_trigger(self) -> TriggerResult:
        raise NotImplementedError(f"{type(self).__name__} must define async def should_trigger(self) -> TriggerResult")

    def reset(self) -> None:
        """Called when the runner starts polling this trigger (start the interval, compute the next cron time)."""

    def wake(self) -> None:
        """Ask the runner to poll this trigger now instead of at the next poll interval (any thread)."""
        waker = getattr(self, "_waker", None)  # a subclass may skip super().__init__()
        if waker is not None:
            waker()

    def attach(self, waker: Callable[[], None] | None) -> None:
        """Used by the runner: ``waker`` makes it poll this trigger at once (None: detached)."""
        self._waker = waker

    def describe(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return self.describe()


class IntervalTrigger(AsyncTrigger):
    """Fires every ``seconds + minutes + hours + days``; the first firing one interval after the start.

    ``immediately=True`` fires at the start too. Firings missed while the loop was busy are merged
    into one (the next is one interval after it), so a late runner never fires in a burst.
    ``clock`` returns monotonic seconds (default ``time.monotonic``; tests pass a fake one).
    """

    def __init__(
        self,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
        *,
        immediately: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = float(seconds) + 60.0 * minutes + 3600.0 * hours + 86400.0 * days
        if not self.interval > 0:
            raise ValueError(f"IntervalTrigger needs a positive interval, got {self.interval:g}s: e.g. minutes=5")
        self.immediately = immediately
        self.clock = clock
        self.next_at: float | None = None

    def reset(self) -> None:
        now = self.clock()
        self.next_at = now if self.immediately else now + self.interval

    async def should_trigger(self) -> TriggerResult:
        now = self.clock()
        if self.next_at is None:
            self.reset()
            assert self.next_at is not None
        if now < self.next_at:
            return TriggerResult(False)
        self.next_at += self.interval
        if self.next_at <= now:  # missed firings: one now, the next a full interval later
            self.next_at = now + self.interval
        return TriggerResult(True, reason=f"every {self.interval:g}s")

    def describe(self) -> str:
        return f"IntervalTrigger({self.interval:g}s)"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class CronTrigger(AsyncTrigger):
    """Fires on a standard 5-field cron schedule in ``timezone`` (IANA name, default UTC).

    Needs the ``flowyml[cron]`` extra (croniter). ``"0 3 * * *"`` is 03:00 every day; aliases
    ``@hourly``, ``@daily``, ``@weekly``, ``@monthly``, ``@yearly`` work too. Firings missed while
    the loop was busy (or the machine slept) are merged into one. ``clock`` returns an aware
    datetime (default: now in UTC). The run's ``context`` can carry the scheduled time: pass
    ``context_key="scheduled_for"`` to get the ISO time under that key.
    """

    def __init__(
        self,
        expression: str,
        timezone: str | dt.tzinfo = "UTC",
        *,
        context_key: str | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        super().__init__()
        self.schedule = CronSchedule(expression, timezone)
        self.context_key = context_key
        self.clock = clock
        self.next_fire: dt.datetime | None = None

    def reset(self) -> None:
        self.next_fire = self.schedule.next_after(self.clock())

    async def should_trigger(self) -> TriggerResult:
        now = self.clock()
        if self.next_fire is None:
            self.reset()
            assert self.next_fire is not None
        if now < self.next_fire:
            return TriggerResult(False)
        due = self.next_fire
        self.next_fire = self.schedule.next_after(max(now, due))
        context = None if self.context_key is None else {self.context_key: due.isoformat()}
        return TriggerResult(True, context=context, reason=f"cron {self.schedule.expression} at {due.isoformat()}")

    def describe(self) -> str:
        return f"CronTrigger({self.schedule.expression!r}, {str(self.schedule.tz)!r})"


class ExternalTrigger(AsyncTrigger):
    """Fired from code: ``trigger.fire(context={...})`` (from any thread) starts a run at the next poll.

    The runner is woken at once, so the run does not wait for the poll interval. Each ``fire`` is
    one firing, with its own context; firings are kept in order until polled.
    """

    def __init__(self, name: str = "external") -> None:
        super().__init__()
        self.name = name
        self._pending: collections.deque[Mapping[str, Any] | None] = collections.deque()

    def fire(self, context: Mapping[str, Any] | None = None) -> None:
        self._pending.append(None if context is None else dict(context))
        self.wake()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def should_trigger(self) -> TriggerResult:
        try:
            context = self._pending.popleft()
        except IndexError:
            return TriggerResult(False)
        if self._pending:
            self.wake()  # more to come: poll again right away
        return TriggerResult(True, context=context, reason=f"{self.name} fired")

    def describe(self) -> str:
        return f"ExternalTrigger({self.name!r})"
