"""Where a local run keeps its files (``$FLOWYML_HOME/local/runs/<run id>/``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flowyml.core.atomic import atomic_write, replace_quickly
from flowyml.orchestrators.layout import safe_component
from flowyml.plugins.processes import ProcessId

#: Held by a submit while it prepares the run and starts its supervisor.
SUBMIT_LOCK = "submit.lock"
#: Held by the run's supervisor for its whole life (taken by the submit, handed over at spawn).
SUPERVISOR_LOCK = "supervisor.lock"
#: Written once a supervisor was spawned (a supervisor that then dies before recording itself failed).
SPAWNED = "spawned"


def runs_root() -> Path:
    from flowyml.home import flowyml_home

    return flowyml_home() / "local" / "runs"


def run_dir(run_id: str) -> Path:
    return runs_root() / safe_component(run_id, "run id")


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return doc


def write_json(path: Path, doc: Any, *, durable: bool = True) -> None:
    """Replace ``path`` whole; ``durable=False`` skips the fsync (for records a crash may lose)."""
    data = json.dumps(doc, sort_keys=True).encode()
    if durable:
        atomic_write(path, data)
    else:
        replace_quickly(path, data)


def supervisor_pid(directory: Path) -> ProcessId | None:
    try:
        return ProcessId.from_text((directory / "supervisor.pid").read_text())
    except FileNotFoundError:
        return None


def write_own_pid(directory: Path) -> None:
    """The supervisor records itself (pid and start time), once it holds the run's supervisor lock."""
    from flowyml.plugins.processes import process_start_time

    me = ProcessId(os.getpid(), process_start_time(os.getpid()))
    atomic_write(directory / "supervisor.pid", me.to_text().encode())
