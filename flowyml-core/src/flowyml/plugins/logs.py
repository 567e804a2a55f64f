"""The step-runner's structured log lines: the one parser every backend's log reader uses.

The step-runner prints one JSON object per event (``{"ts": ..., "severity": ..., "message": ...,
"unit": ..., "step": ...}``); everything else a unit prints is plain output. ``ts`` is seconds
since the epoch (a float).
"""

from __future__ import annotations

__all__ = ["RunnerLine", "parse_runner_line", "record_of"]

import json
import time

import attrs

from flowyml.plugins.types import LogRecord


@attrs.define(frozen=True)
class RunnerLine:
    """One line of a unit's output, parsed."""

    ts: float
    severity: str
    message: str
    step: str | None = None
    structured: bool = False


def parse_runner_line(text: str, fallback_ts: float | None = None, severity: str = "INFO") -> RunnerLine:
    """Parse one output line: a step-runner JSON event, or plain text stamped ``fallback_ts``.

    ``severity`` is the plain line's severity (``"ERROR"`` for a stderr line, where known).
    """
    line = text.rstrip("\r\n")
    ts = time.time() if fallback_ts is None else fallback_ts
    if line.startswith("{") and '"message"' in line:
        try:
            doc = json.loads(line)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and "message" in doc:
            stamp = doc.get("ts")
            return RunnerLine(
                ts=float(stamp) if isinstance(stamp, (int, float)) else ts,
                severity=str(doc.get("severity") or "INFO"),
                message=str(doc["message"]),
                step=doc.get("step") if isinstance(doc.get("step"), str) else None,
                structured=True,
            )
    return RunnerLine(ts=ts, severity=severity, message=line)


def record_of(line: RunnerLine, unit: str | None, cursor: str | None) -> LogRecord:
    """The ``LogRecord`` for a parsed line of ``unit``'s output."""
    return LogRecord(timestamp=line.ts, message=line.message, severity=line.severity, unit=unit, cursor=cursor)
