"""Where a local run keeps its files, and how to tell whether its supervisor is alive."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flowyml.artifacts.store import safe_component
from flowyml.core.atomic import atomic_write


def runs_root() -> Path:
    from flowyml.home import flowyml_home

    return flowyml_home() / "local" / "runs"


def run_dir(run_id: str) -> Path:
    return runs_root() / safe_component(run_id, "run id")


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def write_json(path: Path, doc: Any) -> None:
    atomic_write(path, json.dumps(doc, sort_keys=True).encode())


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (guards against pid reuse), or None where /proc is absent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def is_alive(pid: int, start_time: str | None) -> bool:
    """True if ``pid`` is running and is the same process (not a zombie, not a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): kill(0) is all we have
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return False
    return start_time is None or fields[19] == start_time


def supervisor_pid(directory: Path) -> tuple[int, str | None] | None:
    try:
        text = (directory / "supervisor.pid").read_text().split()
    except FileNotFoundError:
        return None
    return int(text[0]), (text[1] if len(text) > 1 and text[1] != "-" else None)
