"""Reading a local run's per-unit JSON-lines logs by cursor, optionally following them live."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

from flowyml.backends.local.paths import run_dir
from flowyml.plugins.types import LogRecord, RunHandle

FOLLOW_POLL = 0.1


def _decode(cursor: str | None) -> dict[str, int]:
    return json.loads(cursor) if cursor else {}


def _encode(offsets: dict[str, int]) -> str:
    return json.dumps(offsets, sort_keys=True, separators=(",", ":"))


def _read_new(logs_dir: Path, offsets: dict[str, int]) -> list[tuple[float, str, int, dict]]:
    """Complete new lines of every unit's log: (time, unit, end offset, record)."""
    found = []
    for path in sorted(logs_dir.glob("*.jsonl")):
        unit = path.stem
        start = offsets.get(unit, 0)
        with open(path, "rb") as f:
            f.seek(start)
            chunk = f.read()
        pos = start
        for raw in chunk.splitlines(keepends=True):
            if not raw.endswith(b"\n"):
                break  # a line still being written: next time
            pos += len(raw)
            try:
                rec = json.loads(raw)
            except ValueError:
                rec = {"t": time.time(), "s": "INFO", "u": unit, "m": raw.decode(errors="replace").rstrip()}
            found.append((float(rec.get("t", 0)), unit, pos, rec))
    found.sort(key=lambda item: item[0])
    return found


def read_logs(
    handle: RunHandle, cursor: str | None, follow: bool, poll_interval: float = FOLLOW_POLL
) -> Iterator[LogRecord]:
    offsets = _decode(cursor)
    logs_dir = run_dir(handle.run_id) / "logs"

    def batch() -> Iterator[LogRecord]:
        for ts, unit, end, rec in _read_new(logs_dir, offsets):
            offsets[unit] = end
            yield LogRecord(
                timestamp=ts,
                message=str(rec.get("m", "")),
                severity=rec.get("s", "INFO"),
                unit=unit,
                cursor=_encode(offsets),
            )

    def gen() -> Iterator[LogRecord]:
        if not follow:
            yield from batch()
            return
        from flowyml.backends.local.backend import status

        while True:
            finished = status(handle).status.is_finished  # read before the batch: nothing is missed
            yield from batch()
            if finished:
                return
            time.sleep(poll_interval)

    return gen()
