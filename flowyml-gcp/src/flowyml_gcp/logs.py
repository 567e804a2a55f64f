"""A run's Cloud Logging entries, by cursor, optionally followed live.

Vertex AI writes each container's output to Cloud Logging under ``resource.type="ml_job"``
with ``resource.labels.job_id`` = the CustomJob id (for a PipelineJob: each task's own CustomJob,
``taskDetails[].executorDetail.containerDetail.mainJob``). Entries are ordered by
(timestamp, insertId); the cursor is exactly that pair, so a resumed read starts right after
the last record it gave. While following, entries younger than ``log_settle_seconds`` are held
back (Cloud Logging can ingest an entry after a later-stamped one), and after the run ends
we keep reading for one more settle window, so nothing arrives behind the cursor.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from typing import Any

from flowyml.core.errors import BackendError
from flowyml.plugins.types import LogRecord, RunHandle
from flowyml_gcp import client as gcp
from flowyml_gcp import jobs
from flowyml_gcp.config import VertexAIConfig

PAGE_SIZE = 1000
_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")
_SEVERITY = {"DEFAULT": "INFO", "NOTICE": "INFO", "CRITICAL": "ERROR", "ALERT": "ERROR", "EMERGENCY": "ERROR"}


def normalize_ts(value: str) -> str:
    """RFC 3339 -> UTC with nanoseconds, so timestamps compare as strings."""
    m = _TS.match(value.strip())
    if not m:
        raise BackendError(f"Cloud Logging returned a timestamp flowyml cannot read: {value!r}")
    base, frac, zone = m.groups()
    when = dt.datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone)).astimezone(dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + "." + (frac or "").ljust(9, "0") + "Z"


def ts_of(epoch: float) -> str:
    when = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{when.microsecond:06d}000Z"


def epoch_of(ts: str) -> float:
    base, frac = ts[:19], ts[20:29]
    return dt.datetime.fromisoformat(base + "+00:00").timestamp() + int(frac) / 1e9


def make_cursor(ts: str, insert_id: str) -> str:
    return f"{ts}|{insert_id}"


def parse_cursor(cursor: str | None) -> tuple[str, str] | None:
    if not cursor:
        return None
    ts, sep, insert_id = cursor.partition("|")
    if not sep:
        raise BackendError(f"not a vertex_ai log cursor: {cursor!r}")
    return normalize_ts(ts), insert_id


def sources(handle: RunHandle, config: VertexAIConfig, job: Any | None = None) -> list[tuple[str, str]]:
    """(unit, CustomJob id) pairs whose logs make up the run's logs (tasks not started yet: none)."""
    if jobs.kind_of(handle) == jobs.CUSTOM_JOB:
        return [(unit, name.rsplit("/", 1)[-1]) for unit, name in handle.units.items()]
    job = job if job is not None else jobs.fetch(handle, config)
    out = []
    for unit, td in jobs.task_details(handle, job).items():
        main = td.executor_detail.container_detail.main_job
        if main:
            out.append((unit, main.rsplit("/", 1)[-1]))
    return out


def _list_entries(config: VertexAIConfig, flt: str) -> list[dict[str, Any]]:
    """Every entry matching ``flt``, oldest first, over the HTTP/JSON API (one retried call per page)."""
    from google.api_core import exceptions as gexc

    conn = gcp.logging_client(config)._connection
    entries: list[dict[str, Any]] = []
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
        try:
            page = gcp.call(
                lambda body=body: conn.api_request(method="POST", path="/entries:list", data=body),
                "list Cloud Logging entries",
            )
        except gexc.GoogleAPICallError as exc:
            raise BackendError(f"Cloud Logging refused to list entries: {exc}") from exc
        entries.extend(page.get("entries") or [])
        token = page.get("nextPageToken")
        if not token:
            return entries


def _message(entry: dict[str, Any]) -> str:
    if "textPayload" in entry:
        return str(entry["textPayload"]).rstrip("\n")
    payload = entry.get("jsonPayload")
    if isinstance(payload, dict):
        if "message" in payload:  # structured lines (flowyml's runner emits these): the message
            return str(payload["message"])
        return json.dumps(payload, sort_keys=True)
    return json.dumps(entry.get("protoPayload") or {}, sort_keys=True)


def fetch_records(
    config: VertexAIConfig,
    srcs: list[tuple[str, str]],
    after: tuple[str, str] | None,
    since: str,
    until: str | None,
) -> list[LogRecord]:
    """Records of every source strictly after ``after``, up to ``until``, merged in (timestamp, insertId) order."""
    keyed: list[tuple[tuple[str, str], LogRecord]] = []
    lower = after[0] if after else since
    for unit, job_id in srcs:
        flt = f'resource.type="ml_job" AND resource.labels.job_id="{job_id}" AND timestamp>="{lower}"'
        if until:
            flt += f' AND timestamp<="{until}"'
        for entry in _list_entries(config, flt):
            key = (normalize_ts(entry["timestamp"]), str(entry.get("insertId", "")))
            if after is not None and key <= after:
                continue
            severity = str(entry.get("severity") or "DEFAULT")
            keyed.append(
                (
                    key,
                    LogRecord(
                        timestamp=epoch_of(key[0]),
                        message=_message(entry),
                        severity=_SEVERITY.get(severity, severity),
                        unit=unit,
                        cursor=make_cursor(*key),
                    ),
                )
            )
    keyed.sort(key=lambda kr: kr[0])
    return [r for _, r in keyed]


def read_logs(handle: RunHandle, config: VertexAIConfig, cursor: str | None, follow: bool) -> Iterator[LogRecord]:
    """The run's records after ``cursor``; with ``follow``, until the run has ended and logs have settled."""
    after = parse_cursor(cursor)
    since = ts_of(handle.submitted_at - 300)  # a lower bound the API can index on
    settle = max(0.0, config.log_settle_seconds)
    ended_at: float | None = None
    while True:
        job = None
        until = None
        done = not follow
        if follow:
            job = jobs.fetch(handle, config)
            if ended_at is None and jobs.report(handle, job, config).status.is_finished:
                ended_at = time.monotonic()
            done = ended_at is not None and time.monotonic() - ended_at >= settle
            if ended_at is None:
                until = ts_of(time.time() - settle)
        for record in fetch_records(config, sources(handle, config, job), after, since, until):
            after = parse_cursor(record.cursor)
            yield record
        if done:
            return
        time.sleep(config.log_poll_interval)
