"""In-process runs (``flowyml run FILE`` without --stack): recorded in the run registry, listed, resumable here."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowyml.core.errors import ConfigError
from flowyml.orchestrators.registry import RunRegistry
from tests.cli_process import run_cli

ROOT = Path(__file__).parent.parent.parent
TARGET = "tests/core/resume_pipelines.py:pipeline"


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=ROOT, timeout=timeout)


def executions(home: Path) -> list[str]:
    path = home / "executions.log"
    return path.read_text().split() if path.exists() else []


@pytest.fixture
def broken(flowyml_home: Path) -> Path:
    flowyml_home.mkdir(parents=True, exist_ok=True)
    marker = flowyml_home / "break-featurize"
    marker.touch()
    return marker


def test_an_in_process_run_is_recorded_listed_and_resumed_in_process(flowyml_home, broken):
    failed = cli("run", TARGET, "--run-id", "here-1")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "flowyml resume here-1" in failed.stderr
    rows = {r["run_id"]: r for r in json.loads(cli("runs", "--json").stdout)}
    assert rows["here-1"]["backend"] == "inprocess" and rows["here-1"]["status"] == "FAILED"
    status = json.loads(cli("status", "here-1", "--json").stdout)
    assert status["status"] == "FAILED" and "featurize is broken" in status["message"]
    assert status["units"] == {"load": "COMPLETED", "featurize": "FAILED", "train": "CANCELLED", "report": "COMPLETED"}
    logs = cli("logs", "here-1").stdout
    assert "unit featurize failed" in logs and "unit load completed" in logs

    broken.unlink()
    (flowyml_home / "executions.log").unlink()
    resumed = cli("resume", "here-1", "--run-id", "here-2", "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    doc = json.loads(resumed.stdout)
    assert doc["run_id"] == "here-2" and doc["success"]
    assert doc["steps"]["load"]["status"] == "cached" and doc["steps"]["report"]["status"] == "cached"  # reused
    assert executions(flowyml_home) == ["featurize", "train"]  # executed in the resuming process, nothing else
    assert "in this process" in resumed.stderr
    assert json.loads(cli("status", "here-2", "--json").stdout)["status"] == "COMPLETED"

    # --from on the completed in-process run, detached: it runs on the local backend
    (flowyml_home / "executions.log").unlink()
    detached = cli("resume", "here-2", "--from", "train", "--detach", "--json")
    assert detached.returncode == 0, detached.stderr
    new = json.loads(detached.stdout)
    assert new["backend"] == "local" and sorted(new["reused"]) == ["featurize", "load", "report"]
    deadline = time.monotonic() + 60
    while json.loads(cli("status", new["run_id"], "--json").stdout)["status"] != "COMPLETED":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert executions(flowyml_home) == ["train"]


def test_python_resume_in_process_returns_the_pipeline_result(flowyml_home, broken):
    from flowyml.orchestrators.inprocess import resume_in_process

    assert cli("run", TARGET, "--run-id", "py-1").returncode == 1
    broken.unlink()
    result = resume_in_process("py-1", new_run_id="py-2")
    assert result.success and result.run_id == "py-2"
    assert result["model"] == 60 and result["raw"] == [1, 2, 3] and result["report"] == "3 rows"
    assert result.metadata["resumed_from"] == "py-1"
    assert RunRegistry().get("py-2").status.name == "COMPLETED"
    again = resume_in_process("py-2", from_step="featurize", new_run_id="py-3")
    assert again.success and again.step_results["featurize"].status == "ok"
    assert again.step_results["load"].cached


def test_an_interrupted_in_process_run_reads_cancelled_and_resumes(flowyml_home):
    flowyml_home.mkdir(parents=True, exist_ok=True)
    hold = flowyml_home / "hold-train"
    hold.touch()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowyml.cli.main", "run", TARGET, "--run-id", "ctrl-c"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "train" not in executions(flowyml_home):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        live = json.loads(cli("status", "ctrl-c", "--json").stdout)
        assert live["status"] == "RUNNING" and live["units"]["load"] == "COMPLETED"
        assert json.loads(cli("cancel", "ctrl-c", "--json").stdout)["cancel_requested"]  # SIGINT, as Ctrl-C
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130
    assert json.loads(cli("status", "ctrl-c", "--json").stdout)["status"] == "CANCELLED"
    hold.unlink()
    (flowyml_home / "executions.log").unlink()
    resumed = cli("resume", "ctrl-c", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert executions(flowyml_home) == ["train", "report"]  # the interrupted step, and the one never reached


def test_the_inprocess_backend_is_not_a_stack_type(flowyml_home, tmp_path):
    from flowyml.orchestrators.remote import RemoteOrchestrator

    sys.path.insert(0, str(ROOT))
    try:
        from tests.core.resume_pipelines import pipeline
    finally:
        sys.path.remove(str(ROOT))
    with pytest.raises(ConfigError, match="not a stack type"):
        RemoteOrchestrator.for_backend("inprocess").run_pipeline(pipeline, pipeline_module=TARGET)
