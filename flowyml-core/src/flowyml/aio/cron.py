"""Standard 5-field cron schedules in a time zone, on top of ``croniter`` (the ``flowyml[cron]`` extra).

:class:`CronSchedule` validates an expression once and answers "when is the next firing after
this instant?". Daylight-saving rules (as Vixie cron): a time that does not exist (the spring gap)
fires at the first instant after the gap; a time that occurs twice (the autumn repeat) fires once
when the hour field is fixed (``30 2 * * *``), and in both passes when it has a ``*``
(``*/20 * * * *``, elapsed time is real).
"""

from __future__ import annotations

__all__ = ["CronSchedule"]

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ALIASES = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_FIELDS = "minute hour day-of-month month day-of-week"
_HELP = f"5 fields ({_FIELDS}), e.g. '0 3 * * *' for 03:00 every day, or one of {', '.join(sorted(ALIASES))}"


def _croniter() -> Any:
    """The croniter module (no type stubs: typed as Any here, the one place it is imported)."""
    try:
        import croniter  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError(
            'cron schedules need the croniter package: pip install croniter (or pip install "./flowyml-core[cron]")'
        ) from None
    return croniter


def zone(timezone: str | dt.tzinfo) -> dt.tzinfo:
    """``"Europe/Paris"`` (IANA name, read with zoneinfo) or a tzinfo, as a tzinfo."""
    if isinstance(timezone, dt.tzinfo):
        return timezone
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {timezone!r}: use an IANA name such as 'UTC' or 'Europe/Paris' "
            "(on Windows, pip install tzdata)"
        ) from None


class CronSchedule:
    """One validated cron expression in one time zone (default UTC)."""

    def __init__(self, expression: str, timezone: str | dt.tzinfo = "UTC") -> None:
        if not isinstance(expression, str):
            raise TypeError(f"cron expression must be a string, got {type(expression).__name__}")
        self.expression = " ".join(expression.split())
        self.tz = zone(timezone)
        fields = self.expression.split(" ")
        if not (len(fields) == 5 or (len(fields) == 1 and fields[0].lower() in ALIASES)):
            raise ValueError(f"invalid cron expression {expression!r}: expected {_HELP}")
        if not _croniter().croniter.is_valid(self.expression):
            raise ValueError(f"invalid cron expression {expression!r}: a field is out of range; expected {_HELP}")
        hour = "*" if len(fields) == 1 else fields[1]
        self._fixed_hour = fields[0].lower() != "@hourly" and "*" not in hour
        self.next_after(dt.datetime.now(dt.timezone.utc))  # an expression that never fires fails here

    def __repr__(self) -> str:
        return f"CronSchedule({self.expression!r}, {str(self.tz)!r})"

    def next_after(self, instant: dt.datetime) -> dt.datetime:
        """The first firing strictly after ``instant`` (an aware datetime), in the schedule's time zone."""
        if instant.tzinfo is None:
            raise ValueError("cron schedules compare aware datetimes: pass datetime.now(timezone.utc), not a naive one")
        lib = _croniter()
        start = instant.astimezone(self.tz)
        try:
            it = lib.croniter(self.expression, start)
            fire: dt.datetime = it.get_next(dt.datetime)
            while self._fixed_hour and _is_repeat(fire):
                fire = it.get_next(dt.datetime)
        except lib.CroniterBadDateError:
            raise ValueError(f"cron expression {self.expression!r} never fires (e.g. February 30th)") from None
        return fire

    def next_times(self, instant: dt.datetime, count: int) -> list[dt.datetime]:
        """The next ``count`` firings after ``instant``."""
        times: list[dt.datetime] = []
        for _ in range(count):
            instant = self.next_after(instant)
            times.append(instant)
        return times


def _is_repeat(fire: dt.datetime) -> bool:
    """True for the second pass of an autumn wall-clock hour (the same local time already happened)."""
    earlier = fire.replace(fold=0)
    return fire.utcoffset() != earlier.utcoffset() and fire.replace(tzinfo=None) == earlier.replace(tzinfo=None)
