"""One pass over a run's logs, by cursor, from run history's log files (core follows).

Sources: each unit's ``user_logs/std_log*.txt`` (a command job's own run, or the child run of
each pipeline node), then the pipeline's ``logs/azureml/executionlogs.txt``. The cursor is the
byte offset reached in every source, so a resumed read continues exactly after the last record.
Nothing is printed: unlike azure-ai-ml's ``jobs.stream``, records are only yielded.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import attrs

from flowyml.plugins.cursors import decode_cursor, encode_cursor
from flowyml.plugins.logs import parse_runner_line, record_of
from flowyml.plugins.types import LogRecord, RunHandle
from flowyml_azure.config import AzureMLConfig
from flowyml_azure.jobs import child_runs, is_pipeline
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


def sources(handle: RunHandle, config: AzureMLConfig) -> list[Source]:
    """The log files to read, in a stable order. The run's state is read first, so when it says
    finished every source below already holds its final text."""
    history = run_history(config)
    parent = history.details(handle.job_id)
    finished = to_status(parent.get("status")).is_finished
    if not is_pipeline(handle):
        unit = next(iter(handle.units))
        return [Source(f"{unit}:{name}", unit, url, finished) for name, url in _user_logs(parent)]
    found: list[Source] = []
    children = child_runs(handle, config)
    for unit in handle.units:
        run = children.get(unit)
        if run is None:
            continue
        child = history.details(run["runId"])
        done = finished or to_status(child.get("status")).is_finished
        found += [Source(f"{unit}:{name}", unit, url, done) for name, url in _user_logs(child)]
    url = (parent.get("logFiles") or {}).get(EXECUTION_LOG)
    if url:
        found.append(Source(f":{EXECUTION_LOG}", None, url, finished))
    return found


def read_logs(handle: RunHandle, config: AzureMLConfig, cursor: str | None) -> Iterator[LogRecord]:
    """Every complete new line of every source after ``cursor``; a partial last line waits for
    the next pass unless its run has ended."""
    offsets = {str(k): int(v) for k, v in decode_cursor(cursor, "azureml").items()}
    history = run_history(config)
    for source in sources(handle, config):
        pos = offsets.get(source.key, 0)
        for raw in history.read_from(source.url, pos).splitlines(keepends=True):
            if not raw.endswith(b"\n") and not source.finished:
                break  # still being written: next pass
            pos += len(raw)
            offsets[source.key] = pos
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if text.strip():
                yield record_of(parse_runner_line(text, time.time()), source.unit, encode_cursor(offsets))
