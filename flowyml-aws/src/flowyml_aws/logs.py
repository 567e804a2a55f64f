"""One pass over a run's CloudWatch Logs after a cursor (core follows: ``flowyml.plugins.polling``).

A cursor is JSON: ``{"<unit>|<stream>": [nextForwardToken or null, events to skip on that page]}``
for every stream read so far, so passing a record's cursor back resumes right after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from flowyml.plugins.cursors import decode_cursor, encode_cursor
from flowyml.plugins.logs import parse_runner_line, record_of
from flowyml.plugins.types import LogRecord

PAGE = 1000

#: (unit, log group, log stream)
Source = tuple[str, str, str]


def _read_stream(logs: Any, source: Source, positions: dict[str, list], call: Callable) -> Iterator[LogRecord]:
    from botocore.exceptions import ClientError

    unit, group, stream = source
    key = f"{unit}|{stream}"
    token, skip = positions.get(key, [None, 0])
    while True:
        kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True, "limit": PAGE}
        if token:
            kwargs["nextToken"] = token
        try:
            page = call(partial(logs.get_log_events, **kwargs), "cloudwatch get_log_events")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return  # the stream does not exist yet: no logs yet
            raise
        events = page.get("events", [])
        for i in range(skip, len(events)):
            event = events[i]
            positions[key] = [token, i + 1]
            line = parse_runner_line(event.get("message", ""), event.get("timestamp", 0) / 1000.0)
            yield record_of(line, unit, encode_cursor(positions))
        nxt = page.get("nextForwardToken")
        if not nxt or nxt == token or not events:
            return
        if len(events) > skip:
            positions[key] = [nxt, 0]
        token, skip = nxt, 0


def read_logs(
    logs_client: Any,
    sources: Callable[[], list[Source]],
    cursor: str | None,
    call: Callable,
) -> Iterator[LogRecord]:
    """One pass over every source stream, in order, after ``cursor`` (core follows)."""
    positions: dict[str, list] = decode_cursor(cursor, "aws")
    for source in sources():
        yield from _read_stream(logs_client, source, positions, call)
