"""Reading a local run's per-unit JSON-lines logs after a cursor (one pass; core follows)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flowyml.backends.local.paths import run_dir
from flowyml.plugins.cursors import decode_cursor, encode_cursor
from flowyml.plugins.types import LogRecord, RunHandle


def _read_new(logs_dir: Path, offsets: dict[str, int]) -> list[tuple[float, str, int, dict[str, Any]]]:
    """Complete new lines of every unit's log: (time, unit, end offset, record), oldest first."""
    found = []
    for path in sorted(logs_dir.glob("*.jsonl")):
        unit = path.stem
        start = int(offsets.get(unit, 0))
        with open(path, "rb") as f:
            f.seek(start)
            chunk = f.read()
        pos = start
        for raw in chunk.splitlines(keepends=True):
            if not raw.endswith(b"\n"):
                break  # a line still being written: next pass
            pos += len(raw)
            try:
                rec = json.loads(raw)
            except ValueError:
                rec = {"t": 0.0, "s": "INFO", "m": raw.decode(errors="replace").rstrip()}
            found.append((float(rec.get("t", 0)), unit, pos, rec))
    found.sort(key=lambda item: item[0])
    return found


def read_logs(handle: RunHandle, cursor: str | None) -> Iterator[LogRecord]:
    """Every record written after ``cursor``, in time order; each record's cursor resumes after it."""
    offsets = decode_cursor(cursor, "local")
    for ts, unit, end, rec in _read_new(run_dir(handle.run_id) / "logs", offsets):
        offsets[unit] = end
        yield LogRecord(
            timestamp=ts,
            message=str(rec.get("m", "")),
            severity=str(rec.get("s", "INFO")),
            unit=unit,
            cursor=encode_cursor(offsets),
        )
