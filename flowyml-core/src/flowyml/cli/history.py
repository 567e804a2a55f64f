"""Run history for ``flowyml runs`` and ``flowyml status``: times, durations, filters, unit timings, details.

Times people read are local (``2026-12-01 22:57:59``); JSON carries ISO 8601 UTC (``...Z``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from flowyml.core.errors import ConfigError
from flowyml.core.status import ExecutionStatus

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
#: A number this large in a field named like a time is epoch seconds (2001-09-09 .. 2286-11-20).
_EPOCH_RANGE = (1e9, 1e10)


def parse_since(text: str, now: float | None = None) -> float:
    """``--since``: ``30m``/``2h``/``7d``/``1w`` ago, or a local date or date-time (``2026-12-01``,
    ``2026-12-01T10:30``, ``2026-12-01 10:30:00``) -> epoch seconds."""
    import datetime as dt

    match = _AGO.match(text)
    if match:
        return (now if now is not None else time.time()) - float(match[1]) * _UNITS[match[2].lower()]
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--since {text!r}: expected a duration ago (45s, 30m, 2h, 7d, 1w) or a date (2026-12-01, 2026-12-01T10:30)"
        ) from None
    return when.timestamp()  # a naive date-time is local time


def parse_statuses(values: list[str]) -> set[ExecutionStatus] | None:
    """``--status failed --status running`` or ``--status failed,running`` -> the statuses (None: no filter)."""
    names = [v.strip() for value in values for v in value.split(",") if v.strip()]
    if not names:
        return None
    found: set[ExecutionStatus] = set()
    for name in names:
        try:
            found.add(ExecutionStatus(name))
        except ValueError:
            known = ", ".join(s.value for s in ExecutionStatus)
            raise ConfigError(f"--status {name!r}: not a run status; one of {known}") from None
    return found


def local_time(epoch: float | None) -> str:
    """``2026-12-01 22:57:59`` in local time; ``-`` when unknown."""
    return "-" if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def iso_utc(epoch: float | None) -> str | None:
    """``2026-12-01T22:57:59.123Z``, or None."""
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


def duration(seconds: float | None) -> str:
    """``0.42s``, ``12.3s``, ``4m05s``, ``2h03m``, ``3d04h``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


# -- unit timings from the run's artifact store ----------------------------------------------------
def unit_timings(store: Any, run_id: str) -> tuple[list[str], dict[str, Any]]:
    """(units in DAG order, unit -> its UnitResult) as the run's job spec and unit results say.

    The spec is read as plain JSON (its unit list is in dependency order); no unit result yet: {}.
    """
    from flowyml.orchestrators.layout import RunLayout, read_unit_results

    spec = store.read_json(RunLayout(run_id).spec)
    order = [str(u["name"]) for u in spec.get("units") or []]
    return order, read_unit_results(store, run_id)


def run_span(results: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """(first unit's start, last unit's end) over the unit results that have them."""
    starts = [r.started_at for r in results.values() if r.started_at is not None]
    ends = [r.finished_at for r in results.values() if r.finished_at is not None]
    return (min(starts) if starts else None), (max(ends) if ends else None)


def in_dag_order(order: list[str], units: Mapping[str, Any]) -> list[str]:
    """The unit names of ``units`` in ``order``; ones the spec does not name come last, as reported."""
    return [u for u in order if u in units] + [u for u in units if u not in order]


# -- --details as text ------------------------------------------------------------------------------
def _looks_like_time(key: str) -> bool:
    key = key.lower()
    return key.endswith(("_at", "_time", "time", "timestamp")) or key in ("created", "started", "finished", "ended")


def readable(value: Any, key: str = "") -> str:
    """One value of ``--details`` as people read it: local times, names of states, ``a, b`` lists, ``-`` for None."""
    import enum

    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return value.name if isinstance(value, ExecutionStatus) else str(value.value)
    if isinstance(value, (int, float)) and _looks_like_time(key) and _EPOCH_RANGE[0] <= value < _EPOCH_RANGE[1]:
        return local_time(float(value))
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(readable(v) for v in value) or "-"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={readable(v, str(k))}" for k, v in value.items()) or "-"
    return str(value)


def details_lines(details: Mapping[str, Any], indent: str = "  ") -> list[str]:
    """``key: value`` lines; a mapping value becomes an indented block of its own lines."""
    lines: list[str] = []
    for key, value in details.items():
        if isinstance(value, Mapping) and value:
            lines.append(f"{indent}{key}:")
            lines += details_lines(value, indent + "  ")
        else:
            lines.append(f"{indent}{key}: {readable(value, str(key))}")
    return lines
