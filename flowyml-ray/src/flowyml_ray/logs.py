"""Reading a run's Ray Job log by cursor: one pass over the complete lines after an offset.

The driver writes one line per record, ``flowyml|<unit>|<epoch seconds>|<line>`` (empty for the
driver itself); a unit's line is the step-runner's own output, parsed by core's
:func:`~flowyml.plugins.logs.parse_runner_line`. Lines Ray writes to the job log (runtime_env set-up,
its warnings) become records without a unit. The cursor is the character offset after a record.
"""

from __future__ import annotations

from collections.abc import Iterator

from flowyml.plugins.cursors import decode_cursor, encode_cursor
from flowyml.plugins.logs import parse_runner_line, record_of
from flowyml.plugins.types import LogRecord, RunHandle
from flowyml_ray.client import call, client_for
from flowyml_ray.config import RayConfig
from flowyml_ray.lines import split_line


def parse(text: str, offset: int, fallback_ts: float) -> Iterator[tuple[int, LogRecord]]:
    """(offset after the line, record) for every complete line of ``text`` from ``offset``."""
    position = offset
    last_ts = fallback_ts
    while True:
        end = text.find("\n", position)
        if end < 0:
            return  # the rest is still being written: the next pass reads it whole
        line = text[position:end].rstrip("\r")
        position = end + 1
        found = split_line(line)
        unit: str | None = None
        if found is not None:
            unit, last_ts, line = found
        parsed = parse_runner_line(line, last_ts)
        if not parsed.message.strip():
            continue
        yield position, record_of(parsed, unit, encode_cursor({"offset": position}))


def read_logs(handle: RunHandle, config: RayConfig, cursor: str | None) -> Iterator[LogRecord]:
    """One pass: the job log's records after ``cursor``."""
    offset = int(decode_cursor(cursor, "ray").get("offset", 0))
    client = client_for(config)
    text = call(lambda: client.get_job_logs(handle.job_id), f"get the logs of Ray job {handle.job_id}") or ""
    for _, record in parse(text, min(offset, len(text)), handle.submitted_at):
        yield record
