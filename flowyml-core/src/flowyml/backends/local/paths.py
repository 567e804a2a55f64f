"""Where a local run keeps its files (``$FLOWYML_HOME/local/runs/<run id>/``)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flowyml.core.atomic import atomic_write
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


def write_json(path: Path, doc: Any) -> None:
    atomic_write(path, json.dumps(doc, sort_keys=True).encode())


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


@contextlib.contextmanager
def locked(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``path`` (released when the holder exits, even by SIGKILL).

    With ``wait=False``, yields False at once if another holder has it.
    """
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def is_locked(path: Path) -> bool:
    """True while some process holds ``path``'s lock."""
    if not path.exists():
        return False
    with locked(path, wait=False) as got:
        return not got


def hold_lock(path: Path) -> int | None:
    """Take ``path``'s lock for the rest of this process's life: its fd, or None if another process holds it."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
