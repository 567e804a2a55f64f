"""One pass over a run's Cloud Logging entries after a cursor (core follows: ``flowyml.plugins.polling``).

Vertex AI writes each container's output under ``resource.type="ml_job"`` with
``resource.labels.job_id`` = the CustomJob id (for a PipelineJob: each task's own CustomJob,
``taskDetails[].executorDetail.containerDetail.mainJob``). Cloud Logging allows about 60
``entries:list`` calls a minute per project, so a pass reads every unit with ONE filter (an
``OR`` of the job ids) — one call per page, whatever the number of units — and a throttled call
backs off (``call_with_retry`` honours Retry-After).

Entries are ordered by (timestamp, insertId) and the cursor is that pair. Cloud Logging may
ingest an entry after a later-stamped one, so a pass never returns entries younger than
``log_settle_seconds``: no cursor is handed out past an entry that may still arrive. Core keeps
reading for ``log_settle_seconds`` after the run ended, and those last passes return the rest.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

from flowyml.plugins.cursors import CursorError, decode_cursor, encode_cursor
from flowyml.plugins.logs import parse_runner_line
from flowyml.plugins.types import LogRecord, RunHandle
from flowyml_gcp import client as gcp
from flowyml_gcp import jobs
from flowyml_gcp.config import VertexAIConfig

PAGE_SIZE = 1000
#: job ids per filter (Cloud Logging filters are limited to 20,000 characters)
JOBS_PER_FILTER = 200
_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")
_SEVERITY = {"DEFAULT": "INFO", "NOTICE": "INFO", "CRITICAL": "ERROR", "ALERT": "ERROR", "EMERGENCY": "ERROR"}
Key = tuple[str, str]
WHAT = "list Cloud Logging entries"


def normalize_ts(value: str) -> str:
    """RFC 3339 -> UTC with nanoseconds, so timestamps compare as strings."""
    m = _TS.match(value.strip())
    if not m:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    base, frac, zone = m.groups()
    when = dt.datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone)).astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + "." + (frac or "").ljust(9, "0") + "Z"


def ts_of(epoch: float) -> str:
    when = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{when.microsecond:06d}000Z"


def epoch_of(ts: str) -> float:
    base, frac = ts[:19], ts[20:29]
    return dt.datetime.fromisoformat(base + "+00:00").timestamp() + int(frac) / 1e9


def make_cursor(key: Key) -> str:
    return encode_cursor({"ts": key[0], "id": key[1]})


def parse_cursor(cursor: str | None) -> Key | None:
    """The (timestamp, insertId) a cursor stands for; :class:`CursorError` if it is not ours."""
    position = decode_cursor(cursor, "vertex_ai")
    if not position:
        return None
    try:
        return normalize_ts(str(position["ts"])), str(position["id"])
    except (KeyError, ValueError) as exc:
        raise CursorError(f"not a vertex_ai log cursor: {cursor!r}; pass a cursor from this run's log records") from exc


def sources(handle: RunHandle, config: VertexAIConfig) -> dict[str, str]:
    """CustomJob id -> unit, for every unit whose logs exist (a task not started yet has none)."""
    if jobs.kind_of(handle) == jobs.CUSTOM_JOB:
        return {name.rsplit("/", 1)[-1]: unit for unit, name in handle.units.items()}
    out = {}
    for unit, td in jobs.task_details(handle, jobs.fetch(handle, config)).items():
        main = td.executor_detail.container_detail.main_job
        if main:
            out[main.rsplit("/", 1)[-1]] = unit
    return out


def entries_filter(job_ids: list[str], lower: str, upper: str | None) -> str:
    """One filter for the entries of every job, from ``lower`` (indexed: always bounded) to ``upper``."""
    ids = " OR ".join(f'"{j}"' for j in job_ids)
    flt = f'resource.type="ml_job" AND resource.labels.job_id=({ids}) AND timestamp>="{lower}"'
    return flt + (f' AND timestamp<="{upper}"' if upper else "")


def list_entries(config: VertexAIConfig, flt: str) -> Iterator[dict[str, Any]]:
    """Every entry matching ``flt``, oldest first, over the HTTP/JSON API (one retried call per page)."""
    conn = gcp.logging_client(config)._connection
    token: str | None = None
    while True:
        body: dict[str, Any] = {
            "resourceNames": [f"projects/{config.project_id}"],
            "filter": flt,
            "orderBy": "timestamp asc",
            "pageSize": PAGE_SIZE,
        }
        if token:
            body["pageToken"] = token
        page: dict[str, Any] = gcp.call(partial(conn.api_request, method="POST", path="/entries:list", data=body), WHAT)
        yield from page.get("entries") or []
        token = page.get("nextPageToken")
        if not token:
            return


def record_of(entry: dict[str, Any], key: Key, unit: str | None) -> LogRecord:
    """A log record from an entry: the step-runner's JSON lines read by core's parser."""
    severity = str(entry.get("severity") or "DEFAULT")
    severity = _SEVERITY.get(severity, severity)
    payload = entry.get("jsonPayload")
    if "textPayload" in entry:
        line = parse_runner_line(str(entry["textPayload"]), epoch_of(key[0]), severity)
        message, severity = line.message, line.severity if line.structured else severity
    elif isinstance(payload, dict):  # Vertex AI parsed a JSON line (the step-runner's): its message
        message = str(payload["message"]) if "message" in payload else json.dumps(payload, sort_keys=True)
    else:
        message = json.dumps(entry.get("protoPayload") or {}, sort_keys=True)
    return LogRecord(timestamp=epoch_of(key[0]), message=message, severity=severity, unit=unit, cursor=make_cursor(key))


def read_logs(handle: RunHandle, config: VertexAIConfig, cursor: str | None) -> Iterator[LogRecord]:
    """The run's records after ``cursor`` older than the settle window, in (timestamp, insertId) order."""
    after = parse_cursor(cursor)
    lower = after[0] if after else ts_of(handle.submitted_at - 300)  # a lower bound the API can index on
    settle = max(0.0, config.log_settle_seconds)
    upper = ts_of(time.time() - settle) if settle else None
    units = sources(handle, config)
    ids = sorted(units)
    keyed: list[tuple[Key, dict[str, Any]]] = []
    for start in range(0, len(ids), JOBS_PER_FILTER):
        for entry in list_entries(config, entries_filter(ids[start : start + JOBS_PER_FILTER], lower, upper)):
            key = (normalize_ts(entry["timestamp"]), str(entry.get("insertId", "")))
            if after is None or key > after:
                keyed.append((key, entry))
    keyed.sort(key=lambda ke: ke[0])
    for key, entry in keyed:
        job_id = ((entry.get("resource") or {}).get("labels") or {}).get("job_id")
        yield record_of(entry, key, units.get(str(job_id)))
