"""Test helper: registry rows as a submitter that died leaves them (for the ``find`` / adoption tests)."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from typing import Any

from flowyml.orchestrators.layout import RunLayout
from flowyml.orchestrators.registry import SUBMITTER
from flowyml.plugins.types import JobSpec


def dead_pid() -> int:
    """The pid of a process that has ended (so a liveness check finds it gone)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def forget_the_recorded_job(orch: Any, run_id: str, pid: int) -> None:
    """Make a submitted run's registry row the provisional one of submitter ``pid``, as if it died
    after the backend created the job and before the handle was recorded."""
    spec = JobSpec.from_dict(orch._run_store(orch.registry.get(run_id).handle).read_json(RunLayout(run_id).spec))
    with sqlite3.connect(orch.registry.path) as db:
        db.execute("DELETE FROM runs WHERE run_id=?", (run_id,))
    provisional = orch._provisional_handle(spec)
    who = {"host": socket.gethostname(), "pid": pid}
    assert orch.registry.begin(provisional.evolve(metadata={**provisional.metadata, SUBMITTER: who}))
