"""Logs by cursor: each job's log is read by byte offset; the cursor holds one offset per unit."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from flowyml.plugins.types import LogRecord, RunHandle
from flowyml_httpjobs.client import Client
from flowyml_httpjobs.config import HttpJobsConfig
from flowyml_httpjobs.runs import is_finished, unit_order


def _decode(cursor: str | None) -> dict[str, int]:
    return {str(k): int(v) for k, v in json.loads(cursor).items()} if cursor else {}


def _encode(offsets: dict[str, int]) -> str:
    return json.dumps(offsets, sort_keys=True, separators=(",", ":"))


def _record(entry: dict[str, Any], unit: str, cursor: str) -> LogRecord:
    """The step-runner prints JSON records; anything else is a plain line (stderr counts as ERROR)."""
    line = entry["line"]
    severity = "ERROR" if entry["stream"] == "stderr" else "INFO"
    timestamp = float(entry["t"])
    if line.startswith("{"):
        try:
            doc = json.loads(line)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and "message" in doc and "severity" in doc:
            line, severity = str(doc["message"]), str(doc["severity"])
            timestamp = float(doc.get("ts", timestamp))
    return LogRecord(timestamp=timestamp, message=line, severity=severity, unit=unit, cursor=cursor)


def read_logs(
    handle: RunHandle, config: HttpJobsConfig, cursor: str | None, follow: bool, poll_interval: float | None = None
) -> Iterator[LogRecord]:
    """Records after ``cursor``, unit by unit in dependency order; ``follow`` polls until the run ends."""
    client = Client(config)
    wait = config.poll_interval if poll_interval is None else poll_interval
    offsets = _decode(cursor)

    def batch() -> Iterator[LogRecord]:
        for unit in unit_order(handle):
            more = True
            while more:
                page = client.job_logs(handle.units[unit], offsets.get(unit, 0))
                for entry in page["entries"]:
                    offsets[unit] = entry["next"]
                    yield _record(entry, unit, _encode(offsets))
                more = page["more"]

    def gen() -> Iterator[LogRecord]:
        if not follow:
            yield from batch()
            return
        while True:
            finished = is_finished(handle, config)  # read before the batch, so nothing written last is missed
            yield from batch()
            if finished:
                return
            time.sleep(wait)

    return gen()
