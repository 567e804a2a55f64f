"""``flowyml resume`` on the local backend, end to end: real supervisor and step-runner processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowyml.core.errors import ConfigError, FlowymlError, RunIdConflictError
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators.resume import NothingToResumeError
from flowyml.stacks.local import LocalOrchestrator
from tests.cli_process import run_cli

ROOT = Path(__file__).parent.parent.parent
TARGET = "tests/core/resume_pipelines.py:pipeline"


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=ROOT, timeout=timeout)


def executions(home: Path) -> list[str]:
    path = home / "executions.log"
    return path.read_text().split() if path.exists() else []


def reset_executions(home: Path) -> None:
    (home / "executions.log").unlink(missing_ok=True)


def wait_status(run_id: str, wanted: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        doc = json.loads(cli("status", run_id, "--json").stdout)
        if doc["status"] in wanted or time.monotonic() > deadline:
            return doc
        time.sleep(0.2)


@pytest.fixture
def broken(flowyml_home: Path) -> Path:
    flowyml_home.mkdir(parents=True, exist_ok=True)
    marker = flowyml_home / "break-featurize"
    marker.touch()
    return marker


def test_cli_resume_reuses_completed_units_and_runs_the_failed_one_and_downstream(flowyml_home, broken):
    failed = cli("run", TARGET, "--stack", "local")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    old = json.loads(cli("runs", "--json").stdout)[0]["run_id"]
    assert f"flowyml resume {old}" in failed.stderr  # the resume command is printed after the failure
    assert sorted(executions(flowyml_home)) == ["featurize", "load", "report"]  # train never started

    broken.unlink()  # the fix
    reset_executions(flowyml_home)
    resumed = cli("resume", old, "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    doc = json.loads(resumed.stdout)
    new = doc["run_id"]
    assert new != old and doc["status"] == "COMPLETED"
    assert executions(flowyml_home) == ["featurize", "train"]  # load and report were not executed again
    assert set(doc["units"]) == {"featurize", "train"}  # the backend launched only the units that run
    assert f"reusing load, report from {old}" in resumed.stderr

    outputs = LocalOrchestrator().load_outputs(LocalOrchestrator().registry.get(new).handle)
    by_step = {"load": [1, 2, 3], "featurize": [10, 20, 30], "train": 60}  # step values by the step's name
    assert outputs == {"raw": [1, 2, 3], "report": "3 rows", "features": [10, 20, 30], "model": 60, **by_step}

    # --from on a completed (itself resumed) run: that step and downstream, the rest reused from either run
    reset_executions(flowyml_home)
    detached = cli("resume", new, "--from", "train", "--detach", "--json", "--run-id", "resume-demo-again")
    assert detached.returncode == 0, detached.stderr
    assert json.loads(detached.stdout)["run_id"] == "resume-demo-again"
    assert wait_status("resume-demo-again", {"COMPLETED", "FAILED"})["status"] == "COMPLETED"
    assert executions(flowyml_home) == ["train"]
    listed = {r["run_id"]: r for r in json.loads(cli("runs", "--json").stdout)}
    assert {old, new, "resume-demo-again"} <= set(listed)


def test_cli_refuses_what_cannot_be_resumed(flowyml_home):
    ok = cli("run", TARGET, "--stack", "local", "--json")
    assert ok.returncode == 0, ok.stderr
    run_id = json.loads(ok.stdout)["run_id"]
    nothing = cli("resume", run_id)
    assert nothing.returncode == 1 and "completed" in nothing.stderr and "--from" in nothing.stderr
    unknown_step = cli("resume", run_id, "--from", "nope")
    assert (
        unknown_step.returncode == 2 and "no step 'nope'" in unknown_step.stderr and "featurize" in unknown_step.stderr
    )
    same_id = cli("resume", run_id, "--from", "train", "--run-id", run_id)
    assert same_id.returncode == 2 and "run id of its own" in same_id.stderr
    missing = cli("resume", "no-such-run")
    assert missing.returncode == 3 and "no-such-run" in missing.stderr


def test_python_api_resume_run_returns_a_submission_result(flowyml_home, broken):
    sys.path.insert(0, str(ROOT))
    try:
        from tests.core.resume_pipelines import pipeline
    finally:
        sys.path.remove(str(ROOT))
    orchestrator = LocalOrchestrator()
    first = orchestrator.run_pipeline(pipeline, run_id="api-first", pipeline_module=TARGET)
    assert first.wait_for_completion(poll_interval=0.1, raise_on_failure=False) is ExecutionStatus.FAILED
    broken.unlink()
    reset_executions(flowyml_home)
    again = orchestrator.resume_run("api-first", new_run_id="api-second")
    assert again.run_id == "api-second"
    assert again.wait_for_completion(poll_interval=0.1) is ExecutionStatus.COMPLETED
    assert again.get_output("model") == 60 and again.get_output("raw") == [1, 2, 3]  # raw: reused from api-first
    assert executions(flowyml_home) == ["featurize", "train"]
    assert again.metadata["resumed_from"] == "api-first"
    assert orchestrator.get_run_details("api-second")["resumed_from"] == "api-first"
    # the same resume under the same run id is the same run (an idempotent re-submit), nothing runs again
    assert orchestrator.resume_run("api-first", new_run_id="api-second").run_id == "api-second"
    assert executions(flowyml_home) == ["featurize", "train"]
    # a run id taken by a different run is refused by the run-id rules
    with pytest.raises(RunIdConflictError):
        orchestrator.resume_run("api-second", from_step="featurize", new_run_id="api-first")
    with pytest.raises(NothingToResumeError):
        orchestrator.resume_run("api-second")
    with pytest.raises(ConfigError, match="no step"):
        orchestrator.resume_run("api-second", from_step="missing")


def test_a_cancelled_run_resumes_from_the_unit_it_was_cancelled_in(flowyml_home):
    flowyml_home.mkdir(parents=True, exist_ok=True)
    hold = flowyml_home / "hold-train"
    hold.touch()
    started = cli("run", TARGET, "--stack", "local", "--detach", "--run-id", "held")
    assert started.returncode == 0, started.stderr
    deadline = time.monotonic() + 60
    while "train" not in executions(flowyml_home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cli("cancel", "held", "--wait").returncode == 0
    assert wait_status("held", {"CANCELLED"})["status"] == "CANCELLED"
    hold.unlink()
    reset_executions(flowyml_home)
    resumed = cli("resume", "held", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "COMPLETED"
    assert executions(flowyml_home) == ["train"]


def test_a_running_run_is_not_resumed(flowyml_home):
    flowyml_home.mkdir(parents=True, exist_ok=True)
    hold = flowyml_home / "hold-train"
    hold.touch()
    try:
        assert cli("run", TARGET, "--stack", "local", "--detach", "--run-id", "busy").returncode == 0
        orchestrator = LocalOrchestrator()
        with pytest.raises(FlowymlError, match="wait for it to end"):
            orchestrator.resume_run("busy")
    finally:
        hold.unlink()
    assert wait_status("busy", {"COMPLETED"})["status"] == "COMPLETED"


def test_a_resumed_run_reads_the_pipeline_inputs_of_the_run_it_resumes(flowyml_home, broken):
    from tests.core.resume_pipelines import from_input

    orchestrator = LocalOrchestrator()
    ref = "tests/core/resume_pipelines.py:from_input"
    first = orchestrator.run_pipeline(from_input, run_id="in-1", inputs={"raw": [4, 5]}, pipeline_module=ref)
    assert first.wait_for_completion(poll_interval=0.1, raise_on_failure=False) is ExecutionStatus.FAILED
    broken.unlink()
    second = orchestrator.resume_run("in-1", new_run_id="in-2")
    assert second.wait_for_completion(poll_interval=0.1) is ExecutionStatus.COMPLETED
    assert second.get_output("model") == 90
    third = orchestrator.resume_run("in-2", from_step="featurize", new_run_id="in-3")  # a resume of a resume
    assert third.wait_for_completion(poll_interval=0.1) is ExecutionStatus.COMPLETED
    assert third.get_output("features") == [40, 50]
