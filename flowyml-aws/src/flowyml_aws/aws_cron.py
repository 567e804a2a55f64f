"""Standard 5-field cron -> EventBridge Scheduler's ``cron(minutes hours day-of-month month day-of-week year)``.

EventBridge differs from cron in three ways this module bridges: a sixth field (the year, ``*``);
one of day-of-month and day-of-week must be ``?`` (so cron's "either day matches" cannot be
said: such an expression is refused with the fix); and days of the week are ``SUN``..``SAT``
(``1``..``7``), not ``0``..``6``. Every field is expanded by flowyml's one cron parser (croniter,
``flowyml[cron]``) and written back as lists and ranges, which both dialects read the same way.
"""

from __future__ import annotations

from typing import Any

from flowyml.core.errors import ConfigError

DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
#: EventBridge takes schedule expressions of at most 256 characters
MAX_EXPRESSION = 256


def _compress(values: list[int], label: Any = str) -> str:
    """``[0, 1, 2, 5]`` -> ``0-2,5`` (a range for three or more consecutive values)."""
    out: list[str] = []
    start = prev = values[0]
    for value in [*values[1:], None]:
        if value is not None and value == prev + 1:
            prev = value
            continue
        if prev - start >= 2:
            out.append(f"{label(start)}-{label(prev)}")
        else:
            out.extend(label(v) for v in range(start, prev + 1))
        if value is not None:
            start = prev = value
    return ",".join(out)


def _field(values: list[Any], what: str, cron: str) -> str:
    if values == ["*"]:
        return "*"
    if what == "day-of-month" and values == ["l"]:
        return "L"
    if not all(isinstance(v, int) for v in values):
        raise ConfigError(f"schedule: cron expression {cron!r}: EventBridge Scheduler cannot express {what} {values}")
    return _compress(sorted(set(values)))


def to_eventbridge(cron: str) -> str:
    """``"0 3 * * *"`` -> ``"cron(0 3 * * ? *)"`` (the expression is read in the schedule's time zone)."""
    from flowyml.aio.cron import _croniter

    text = " ".join(cron.split())
    try:
        fields, nth = _croniter().croniter.expand(text)
    except Exception as exc:  # croniter's own errors: check_cron already explained the common ones
        raise ConfigError(f"schedule: invalid cron expression {cron!r}: {exc}") from None
    minute, hour, dom, month, dow = fields
    day_of_month = _field(dom, "day-of-month", cron)
    restricted_dow = dow != ["*"]
    if restricted_dow and day_of_month != "*":
        raise ConfigError(
            f"schedule: cron expression {cron!r} sets both a day of month and a day of week (cron fires on "
            "either); EventBridge Scheduler takes only one: keep one of them '*', or make two schedules"
        )
    if nth:
        if len(dow) != 1 or len(nth.get(dow[0], ())) != 1:
            raise ConfigError(f"schedule: cron expression {cron!r}: EventBridge takes a single 'day#n' day of week")
        day_of_week = f"{dow[0] + 1}#{next(iter(nth[dow[0]]))}"
    elif restricted_dow:
        if not all(isinstance(v, int) for v in dow):
            raise ConfigError(f"schedule: cron expression {cron!r}: EventBridge Scheduler cannot express {dow}")
        day_of_week = _compress(sorted({v % 7 for v in dow}), lambda d: DAYS[d])
    else:
        day_of_week = "?"
    if day_of_week != "?":
        day_of_month = "?"
    parts = [_field(minute, "minute", cron), _field(hour, "hour", cron), day_of_month]
    expression = f"cron({' '.join([*parts, _field(month, 'month', cron), day_of_week, '*'])})"
    if len(expression) > MAX_EXPRESSION:
        raise ConfigError(
            f"schedule: cron expression {cron!r} becomes {len(expression)} characters for EventBridge Scheduler "
            f"(at most {MAX_EXPRESSION}): list fewer values"
        )
    return expression
