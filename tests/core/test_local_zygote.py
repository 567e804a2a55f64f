"""Units forked from the run's step-runner zygote are the processes a fresh step-runner would be."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from flowyml.backends.local import paths
from flowyml.backends.local.zygote import Zygote, ZygoteError
from flowyml.core.status import ExecutionStatus
from flowyml.stacks.local import LocalOrchestrator

TARGET = "tests/core/zygote_pipelines.py"
ROOT = Path(__file__).parent.parent.parent

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the zygote forks (POSIX)")


def _run_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fork: str) -> tuple[dict, str]:
    from tests.core import zygote_pipelines

    monkeypatch.setenv("FLOWYML_LOCAL_FORK_UNITS", fork)  # the detached supervisor inherits it
    report = tmp_path / f"facts-{fork}.json"
    sub = LocalOrchestrator().run_pipeline(
        zygote_pipelines.probing, pipeline_module=f"{TARGET}:probing", context={"report": str(report)}
    )
    assert sub.wait_for_completion(timeout=120, poll_interval=0.05) is ExecutionStatus.COMPLETED
    facts = json.loads(report.read_text())
    assert Path(f"{report}.thread").read_text() == "joined"  # the exit waited for a non-daemon thread
    assert Path(f"{report}.atexit").read_text() == "ran"  # and ran the atexit handlers
    log = (paths.run_dir(sub.run_id) / "logs" / "probe.jsonl").read_text()
    assert "probe says hello" in log and "probe warns" in log
    return facts, sub.run_id


def test_a_forked_unit_has_the_process_state_of_a_fresh_step_runner(tmp_path, monkeypatch):
    forked, run_forked = _run_probe(tmp_path, monkeypatch, "1")
    fresh, run_fresh = _run_probe(tmp_path, monkeypatch, "0")
    assert forked.pop("main") == "flowyml.backends.local.zygote" and fresh.pop("main") == "flowyml.runner"
    assert forked.pop("run_id_env") == run_forked and fresh.pop("run_id_env") == run_fresh
    assert forked["argv"][-2:] == ["--unit", "probe"]
    forked["argv"] = [a.replace(run_forked, "RUN") for a in forked["argv"]]
    fresh["argv"] = [a.replace(run_fresh, "RUN") for a in fresh["argv"]]
    assert forked == fresh
    assert forked["sigterm_default"] and forked["stdin_empty"] and forked["wakeup_fd"] == -1
    assert forked["unit"] == "probe" and forked["unbuffered"] == "1" and forked["argv0"] == "runner.py"


def test_a_forked_unit_killed_by_a_signal_fails_the_run_naming_it(monkeypatch):
    from tests.core import zygote_pipelines

    monkeypatch.setenv("FLOWYML_LOCAL_FORK_UNITS", "1")
    orchestrator = LocalOrchestrator()
    sub = orchestrator.run_pipeline(zygote_pipelines.killing, pipeline_module=f"{TARGET}:killing")
    assert sub.wait_for_completion(timeout=120, poll_interval=0.05, raise_on_failure=False) is ExecutionStatus.FAILED
    report = orchestrator.get_status_report(sub.run_id)
    assert "killed by SIGKILL" in report.message
    assert orchestrator.get_run_details(sub.run_id)["unit_exit_codes"] == {"kill_self": -signal.SIGKILL}


def test_a_forked_unit_exit_code_is_reported(monkeypatch):
    from tests.core import zygote_pipelines

    monkeypatch.setenv("FLOWYML_LOCAL_FORK_UNITS", "1")
    orchestrator = LocalOrchestrator()
    sub = orchestrator.run_pipeline(zygote_pipelines.exiting, pipeline_module=f"{TARGET}:exiting")
    assert sub.wait_for_completion(timeout=120, poll_interval=0.05, raise_on_failure=False) is ExecutionStatus.FAILED
    assert orchestrator.get_run_details(sub.run_id)["unit_exit_codes"] == {"exits_hard": 7}
    assert "exited with code 7" in orchestrator.get_status_report(sub.run_id).message


def test_the_zygote_reports_exits_and_a_lost_zygote_is_refused(tmp_path):
    zygote = Zygote(sys.executable, dict(os.environ), str(ROOT))
    try:
        unit = zygote.spawn("u", ["--unit", "u"], dict(os.environ), str(tmp_path))  # no --job: argparse exits 2
        assert unit.wait() == 2
        assert b"--job and --unit are required" in unit.stderr.read()
        unit.stdout.close()
        unit.stderr.close()
        zygote.proc.kill()
        deadline = time.monotonic() + 30
        while zygote.alive and time.monotonic() < deadline:
            zygote.drain(0.1)
        with pytest.raises(ZygoteError):
            zygote.spawn("v", ["--unit", "v"], dict(os.environ), str(tmp_path))
    finally:
        zygote.close()
