"""The run's progress document: what the driver publishes about its units, where status and details read it.

``runs/<run id>/ray/progress.json`` holds the driver's node and pid, the run's state as the driver
sees it, and per unit its state, node id, pid, start and finish times, exit code and error.
``runs/<run id>/ray/stop.json`` records a requested cancel (STOPPING until Ray confirms).
"""

from __future__ import annotations

import time
from typing import Any

from flowyml.core.errors import ArtifactNotFoundError
from flowyml.orchestrators.layout import RunLayout


def progress_key(run_id: str) -> str:
    return f"{RunLayout(run_id).root}/ray/progress.json"


def stop_key(run_id: str) -> str:
    return f"{RunLayout(run_id).root}/ray/stop.json"


def read_progress(store: Any, run_id: str) -> dict[str, Any]:
    """The progress document, or ``{}`` before the driver wrote one."""
    try:
        doc = store.read_json(progress_key(run_id))
    except ArtifactNotFoundError:
        return {}
    return doc if isinstance(doc, dict) else {}


def write_progress(store: Any, run_id: str, doc: dict[str, Any]) -> None:
    store.write_json(progress_key(run_id), {**doc, "updated_at": time.time()})


def stop_requested(store: Any, run_id: str) -> bool:
    return bool(store.storage.exists(stop_key(run_id)))


def stop_request(store: Any, run_id: str) -> dict[str, Any]:
    """The recorded cancel request (``requested_at``, ``graceful``), or ``{}``."""
    try:
        doc = store.read_json(stop_key(run_id))
    except ArtifactNotFoundError:
        return {}
    return doc if isinstance(doc, dict) else {}


def request_stop(store: Any, run_id: str, graceful: bool) -> None:
    store.write_json(stop_key(run_id), {"requested_at": time.time(), "graceful": graceful}, create_only=True)
