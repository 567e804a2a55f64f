"""Logs by cursor from run history's log files, optionally followed live.

Sources: each unit's ``user_logs/std_log*.txt`` (a command job's own run, or the child run of
each pipeline node), then the pipeline's ``logs/azureml/executionlogs.txt``. The cursor is the
byte offset reached in every source, so a resumed read continues exactly after the last record.
Nothing is printed: unlike azure-ai-ml's ``jobs.stream``, records are only yielded.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import attrs

from flowyml.plugins.types import LogRecord, RunHandle
from flowyml_azure.config import AzureMLConfig
from flowyml_azure.jobs import child_runs, is_pipeline, unit_order
from flowyml_azure.runhistory import run_history
from flowyml_azure.states import to_status

USER_LOG = re.compile(r"^(user_logs/std_log[^/]*\.txt|azureml-logs/70_driver_log[^/]*\.txt)$")
EXECUTION_LOG = "logs/azureml/executionlogs.txt"


@attrs.define(frozen=True)
class Source:
    key: str
    unit: str | None
    url: str
    finished: bool  # the run writing it has ended: a last line without newline is complete


def _user_logs(details: dict[str, Any]) -> list[tuple[str, str]]:
    files = details.get("logFiles") or {}
    return sorted((name, url) for name, url in files.items() if USER_LOG.match(name))


def sources(handle: RunHandle, config: AzureMLConfig) -> tuple[bool, list[Source]]:
    """(run finished?, the log files to read, in a stable order). The run's state is read first,
    so when it says finished every source below already holds its final text."""
    history = run_history(config)
    parent = history.details(handle.job_id)
    finished = to_status(parent.get("status")).is_finished
    found: list[Source] = []
    if is_pipeline(handle):
        children = child_runs(handle, config)
        for unit in unit_order(handle):
            run = children.get(unit)
            if run is None:
                continue
            child = history.details(run["runId"])
            done = finished or to_status(child.get("status")).is_finished
            found += [Source(f"{unit}:{name}", unit, url, done) for name, url in _user_logs(child)]
        url = (parent.get("logFiles") or {}).get(EXECUTION_LOG)
        if url:
            found.append(Source(f":{EXECUTION_LOG}", None, url, finished))
    else:
        unit = unit_order(handle)[0]
        found += [Source(f"{unit}:{name}", unit, url, finished) for name, url in _user_logs(parent)]
    return finished, found


def to_record(text: str, unit: str | None, cursor: str) -> LogRecord:
    """A record from one line; the step-runner's JSON lines keep their time and severity."""
    timestamp, severity, message = time.time(), "INFO", text
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and "message" in doc:
            message = str(doc["message"])
            severity = str(doc.get("severity") or "INFO")
            try:
                timestamp = float(doc.get("ts", timestamp))
            except (TypeError, ValueError):
                timestamp = time.time()
    return LogRecord(timestamp=timestamp, message=message, severity=severity, unit=unit, cursor=cursor)


def _encode(offsets: dict[str, int]) -> str:
    return json.dumps(offsets, sort_keys=True, separators=(",", ":"))


def _decode(cursor: str | None) -> dict[str, int]:
    if not cursor:
        return {}
    data = json.loads(cursor)
    return {str(k): int(v) for k, v in data.items()}


def read_batch(handle: RunHandle, config: AzureMLConfig, offsets: dict[str, int]) -> tuple[bool, list[LogRecord]]:
    """Every complete new line of every source, advancing ``offsets``."""
    finished, found = sources(handle, config)
    history = run_history(config)
    records: list[LogRecord] = []
    for source in found:
        start = offsets.get(source.key, 0)
        data = history.read_from(source.url, start)
        pos = start
        for raw in data.splitlines(keepends=True):
            if not raw.endswith(b"\n") and not source.finished:
                break  # still being written: next poll
            pos += len(raw)
            offsets[source.key] = pos
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if text.strip():
                records.append(to_record(text, source.unit, _encode(offsets)))
    return finished, records


def read_logs(
    handle: RunHandle, config: AzureMLConfig, cursor: str | None, follow: bool, poll_interval: float | None = None
) -> Iterator[LogRecord]:
    offsets = _decode(cursor)
    pause = config.log_poll_interval if poll_interval is None else poll_interval

    def gen() -> Iterator[LogRecord]:
        while True:
            finished, records = read_batch(handle, config, offsets)
            yield from records
            if finished or not follow:
                return
            time.sleep(pause)

    return gen()
