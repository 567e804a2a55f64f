"""Atomic submission: a submitter killed at any point of the submit path leaves no ghost.

Each case ends a ``flowyml run --detach --stack local`` at one named point of the submit path
(``$FLOWYML_TEST_KILL_AT``, read by ``flowyml.orchestrators.remote.kill_point``, which
``os._exit``s there as a SIGKILL would). Afterwards every run that started anything has a
registry row, the next ``flowyml runs`` reconciles each row to what really happened (adopted
or FAILED "submission interrupted"), nothing runs unseen, re-submitting the same run id
completes, and ``cancel`` stops a run whose submission was cut short.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowyml.backends.local import paths
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators.registry import RunRegistry
from flowyml.orchestrators.remote import KILL_AT_ENV, KILLED_EXIT

ROOT = Path(__file__).parent.parent.parent
TARGET = "tests/core/lifecycle_pipelines.py"

#: Kill point -> what the run is once reconciled: "none" (nothing was created), "interrupted"
#: (FAILED: the backend never got it), "adopted" (the backend has it: it runs to completion).
KILL_POINTS = {
    "before_row": "none",
    "after_row": "interrupted",
    "after_spec": "interrupted",
    "after_inputs": "interrupted",
    "local:locked": "interrupted",
    "local:after_marker": "interrupted",
    "local:after_files": "interrupted",
    "local:after_spawn": "adopted",
    "after_submit": "adopted",
    "after_record": "adopted",
    "cli:after_submit": "adopted",
}


def cli(*args: str, kill_at: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != KILL_AT_ENV}
    if kill_at:
        env[KILL_AT_ENV] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "flowyml.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def run_id_for(point: str) -> str:
    return "kill-" + point.replace(":", "-").replace("_", "-")


def status(run_id: str) -> dict:
    proc = cli("status", run_id, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def wait_finished(run_id: str, timeout: float = 300) -> dict:
    """The run's status document once it is finished, or when ``timeout`` (generous under load) passed."""
    deadline = time.monotonic() + timeout
    doc = status(run_id)
    while not ExecutionStatus(doc["status"]).is_finished and time.monotonic() < deadline:
        time.sleep(0.3)
        doc = status(run_id)
    return doc


def executed(run_id: str) -> bool:
    """True if any unit of the run started (the local supervisor wrote a state or a unit log)."""
    directory = paths.run_dir(run_id)
    return (directory / "state.json").exists() or any((directory / "logs").glob("*.jsonl"))


def test_a_submitter_killed_at_any_of_eleven_points_leaves_no_ghost():
    for point in KILL_POINTS:
        run_id = run_id_for(point)
        proc = cli("run", f"{TARGET}:quick", "--stack", "local", "--detach", "--run-id", run_id, kill_at=point)
        assert proc.returncode == KILLED_EXIT, (point, proc.returncode, proc.stderr)

    registry = RunRegistry()
    for point, outcome in KILL_POINTS.items():
        row = registry.find(run_id_for(point))
        if outcome == "none":  # killed before the row: nothing at all was created
            assert row is None and not paths.run_dir(run_id_for(point)).exists(), point
        else:
            assert row is not None, f"no registry row after a kill at {point}"

    listed = cli("runs", "--json", "--limit", "100")
    assert listed.returncode == 0, listed.stderr
    rows = {r["run_id"]: r for r in json.loads(listed.stdout)}
    for point, outcome in KILL_POINTS.items():
        run_id = run_id_for(point)
        if outcome == "interrupted":
            assert rows[run_id]["status"] == "FAILED", (point, rows[run_id])
            assert "submission interrupted" in rows[run_id]["message"]
        elif outcome == "adopted":
            assert rows[run_id]["status"] != "SUBMITTING", (point, rows[run_id])
            assert wait_finished(run_id)["status"] == "COMPLETED", point

    # nothing runs unseen: every local run that executed anything has a row that says so
    for directory in paths.runs_root().iterdir():
        row = registry.find(directory.name)
        assert row is not None, f"{directory.name} has local files but no registry row"
        if executed(directory.name):
            assert row.status is ExecutionStatus.COMPLETED, (directory.name, row.status, row.message)
        else:
            assert row.status is ExecutionStatus.FAILED, (directory.name, row.status)

    # re-submitting the same run id completes, whatever point the first submitter died at
    for point in KILL_POINTS:
        again = cli("run", f"{TARGET}:quick", "--stack", "local", "--run-id", run_id_for(point), "--json")
        assert again.returncode == 0, (point, again.stdout, again.stderr)
        assert json.loads(again.stdout)["status"] == "COMPLETED", point
        assert "tick 2" in cli("logs", run_id_for(point)).stdout, point
    assert {r.status for r in RunRegistry().list(limit=100)} == {ExecutionStatus.COMPLETED}


@pytest.mark.parametrize("point", ["after_row", "local:after_marker", "local:after_spawn"])
def test_cancel_stops_a_run_whose_submitter_died(point: str, tmp_path: Path):
    # the run's step waits for a gate file this test never creates: only the cancel ends it, however slow the machine
    gate = f"gate={tmp_path / 'never-opened'}"
    run_id = run_id_for(point)
    proc = cli("run", f"{TARGET}:slow", "-p", gate, "--stack", "local", "--detach", "--run-id", run_id, kill_at=point)
    assert proc.returncode == KILLED_EXIT, proc.stderr
    cancelled = cli("cancel", run_id, "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    doc = json.loads(cancelled.stdout)
    assert doc["cancel_requested"] is True and doc["status"] in {"STOPPING", "CANCELLED"}, doc
    assert wait_finished(run_id)["status"] == "CANCELLED"
    if point == "local:after_spawn":  # the supervisor that did start is gone, its units too
        pid = paths.supervisor_pid(paths.run_dir(run_id))
        assert pid is not None
        deadline = time.monotonic() + 120
        while pid.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pid.is_alive()
    assert cli("cancel", run_id, "--json").returncode == 0  # idempotent


def test_a_supervisor_that_dies_before_it_takes_the_run_is_failed_with_its_log(tmp_path: Path):
    from flowyml.orchestrators import RemoteOrchestrator
    from tests.core import lifecycle_pipelines

    crash = tmp_path / "crash.sh"
    crash.write_text("#!/bin/sh\necho 'supervisor could not start (fake)' >&2\nexit 9\n")
    crash.chmod(0o755)
    orchestrator = RemoteOrchestrator.for_backend("local", {"python": str(crash)})
    sub = orchestrator.run_pipeline(lifecycle_pipelines.quick, run_id="no-start", pipeline_module=f"{TARGET}:quick")
    deadline = time.monotonic() + 120
    report = sub.report()
    while not report.status.is_finished and time.monotonic() < deadline:
        time.sleep(0.1)
        report = sub.report()
    assert report.status is ExecutionStatus.FAILED
    assert "exited before it started the run: supervisor could not start (fake)" in report.message
