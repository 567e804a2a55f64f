"""The result types every case returns, and the few statistics they use."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.targets import TARGETS

MEASURED, SKIPPED, ERROR = "measured", "skipped", "error"


@dataclass
class Row:
    """One line of the report: a metric, its value, and the target it is checked against (if any)."""

    key: str
    label: str
    value: float | None
    unit: str
    note: str = ""
    target: str | None = None
    ok: bool | None = None

    @classmethod
    def of(cls, key: str, label: str, value: float | None, unit: str, note: str = "") -> Row:
        """A row checked against ``TARGETS[key]`` when there is one."""
        target = TARGETS.get(key)
        ok = None if target is None or value is None else target.met(value)
        return cls(key, label, value, unit, note, target.text if target else None, ok)


@dataclass
class CaseResult:
    """A case's rows plus its raw figures; ``status`` is measured, skipped (with ``note``) or error."""

    case: str
    title: str
    status: str = MEASURED
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def skipped(case: str, title: str, reason: str) -> CaseResult:
    """A case whose code does not exist yet: ``not measured: <reason>``."""
    return CaseResult(case, title, SKIPPED, note=f"not measured: {reason}")


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def percentile(xs: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty sample."""
    ordered = sorted(xs)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(xs: Sequence[float], scale: float = 1.0, digits: int = 3) -> dict[str, float]:
    """min / median / max of a sample, multiplied by ``scale`` (e.g. 1000 for ms)."""
    return {
        "min": round(min(xs) * scale, digits),
        "median": round(median(xs) * scale, digits),
        "max": round(max(xs) * scale, digits),
        "n": len(xs),
    }
