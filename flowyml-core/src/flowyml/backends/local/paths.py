"""Where a local run keeps its files (``$FLOWYML_HOME/local/runs/<run id>/``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flowyml.core.atomic import atomic_write
from flowyml.orchestrators.layout import safe_component
from flowyml.plugins.processes import ProcessId


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


def write_json(path: Path, doc: Any) -> None:
    atomic_write(path, json.dumps(doc, sort_keys=True).encode())


def supervisor_pid(directory: Path) -> ProcessId | None:
    try:
        return ProcessId.from_text((directory / "supervisor.pid").read_text())
    except FileNotFoundError:
        return None
