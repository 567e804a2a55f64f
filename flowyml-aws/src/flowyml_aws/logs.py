"""Reading a run's CloudWatch Logs by cursor, optionally following them until the run ends.

A cursor is JSON: ``{"<unit>|<stream>": [nextForwardToken or null, events to skip on that page]}``
for every stream read so far, so passing a record's cursor back resumes right after it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from flowyml.plugins.types import LogRecord

FOLLOW_POLL = 2.0
PAGE = 1000

#: (unit, log group, log stream)
Source = tuple[str, str, str]


def _parse(message: str, fallback_ts: float) -> tuple[float, str, str]:
    """The step-runner prints one JSON object per event; anything else is plain output."""
    text = message.rstrip("\n")
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and "message" in doc:
            return float(doc.get("ts") or fallback_ts), str(doc["message"]), str(doc.get("severity") or "INFO")
    return fallback_ts, text, "INFO"


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
            page = call(lambda kw=kwargs: logs.get_log_events(**kw), "cloudwatch get_log_events")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return  # the stream does not exist yet: no logs yet
            raise
        events = page.get("events", [])
        for i in range(skip, len(events)):
            event = events[i]
            positions[key] = [token, i + 1]
            ts, message, severity = _parse(event.get("message", ""), event.get("timestamp", 0) / 1000.0)
            yield LogRecord(
                timestamp=ts,
                message=message,
                severity=severity,
                unit=unit,
                cursor=json.dumps(positions, sort_keys=True, separators=(",", ":")),
            )
        nxt = page.get("nextForwardToken")
        if not nxt or nxt == token or not events:
            return
        if len(events) > skip:
            positions[key] = [nxt, 0]
        token, skip = nxt, 0


def read_logs(
    logs_client: Any,
    sources: Callable[[], list[Source]],
    is_finished: Callable[[], bool],
    cursor: str | None,
    follow: bool,
    call: Callable,
    poll: float = FOLLOW_POLL,
) -> Iterator[LogRecord]:
    """Records of every source stream in order, from ``cursor``; with ``follow``, until the run ended."""
    positions: dict[str, list] = json.loads(cursor) if cursor else {}

    def one_pass() -> Iterator[LogRecord]:
        for source in sources():
            yield from _read_stream(logs_client, source, positions, call)

    if not follow:
        yield from one_pass()
        return
    while True:
        finished = is_finished()  # read before the pass: records written before the end are not missed
        yield from one_pass()
        if finished:
            return
        time.sleep(poll)
