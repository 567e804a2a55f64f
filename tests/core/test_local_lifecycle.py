"""The embedded backend's whole remote lifecycle, driven through the CLI from separate processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowyml.backends.local import paths
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators.registry import RunRegistry
from flowyml.plugins.processes import ProcessId
from flowyml.stacks.local import LocalOrchestrator
from tests.cli_process import run_cli

HERE = Path(__file__).parent
TARGET = "tests/core/lifecycle_pipelines.py"
ROOT = HERE.parent.parent


def cli(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=ROOT, timeout=timeout, check=check)


def status_of(run_id: str) -> dict:
    return json.loads(cli("status", run_id, "--json").stdout)


def wait_status(run_id: str, wanted: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    doc = status_of(run_id)
    while doc["status"] not in wanted and time.monotonic() < deadline:
        time.sleep(0.2)
        doc = status_of(run_id)
    return doc


def test_detach_status_logs_and_runs_from_other_processes():
    proc = cli("run", f"{TARGET}:quick", "--stack", "local", "--detach", "--json")
    sub = json.loads(proc.stdout)
    run_id = sub["run_id"]
    assert sub["backend"] == "local" and sub["job_id"]
    doc = wait_status(run_id, {"COMPLETED", "FAILED"})
    assert doc["status"] == "COMPLETED", doc
    assert set(doc) >= {"run_id", "backend", "job_id", "status"}
    assert doc["units"] == {"produce": "COMPLETED", "consume": "COMPLETED"}
    logs = cli("logs", run_id).stdout
    assert "producing 3" in logs and "tick 2" in logs
    followed = cli("logs", "-f", run_id, "--json").stdout.splitlines()
    messages = [json.loads(line)["message"] for line in followed]
    assert "tick 0" in messages and all(json.loads(line)["cursor"] for line in followed)
    runs = json.loads(cli("runs", "--json").stdout)
    assert [r["run_id"] for r in runs] == [run_id] and runs[0]["status"] == "COMPLETED"


def test_cancel_from_another_process_ends_cancelled():
    run_id = json.loads(cli("run", f"{TARGET}:slow", "--stack", "local", "--detach", "--json").stdout)["run_id"]
    wait_status(run_id, {"RUNNING"})
    # wait until the slow unit is really running
    deadline = time.monotonic() + 30
    while "tick 1" not in cli("logs", run_id).stdout and time.monotonic() < deadline:
        time.sleep(0.2)
    out = json.loads(cli("cancel", run_id, "--json").stdout)
    assert out["cancel_requested"] is True and out["status"] in {"STOPPING", "CANCELLED"}
    assert wait_status(run_id, {"CANCELLED"}, timeout=30)["status"] == "CANCELLED"
    assert cli("cancel", run_id, "--json").returncode == 0  # idempotent


def test_a_failed_run_exits_non_zero_with_the_error(tmp_path: Path):
    pipeline_file = tmp_path / "bad_pipeline.py"
    pipeline_file.write_text(
        "from flowyml import Pipeline, step\n"
        "@step(outputs=['x'])\n"
        "def explode():\n"
        "    raise ValueError('kaboom 42')\n"
        "pipeline = Pipeline('bad', enable_cache=False).add_step(explode)\n"
    )
    local = cli("run", str(pipeline_file), check=False)
    assert local.returncode == 1 and "ValueError: kaboom 42" in local.stdout
    remote = cli("run", str(pipeline_file), "--stack", "local", check=False)
    assert remote.returncode == 1
    assert "FAILED" in remote.stdout and "kaboom 42" in remote.stdout


def test_unknown_run_and_unknown_stack_exit_codes():
    assert cli("status", "no-such-run", check=False).returncode == 3
    bad = cli("run", f"{TARGET}:quick", "--stack", "nope", check=False)
    assert bad.returncode == 2 and "no stack named 'nope'" in bad.stderr


def test_a_dead_supervisor_is_reported_failed_not_left_running():
    orchestrator = LocalOrchestrator()
    from tests.core import lifecycle_pipelines

    sub = orchestrator.run_pipeline(lifecycle_pipelines.slow, pipeline_module=f"{TARGET}:slow")
    deadline = time.monotonic() + 30
    while orchestrator.get_run_status(sub.run_id) is not ExecutionStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = paths.supervisor_pid(paths.run_dir(sub.run_id)).pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while ProcessId(pid).is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    report = orchestrator.get_status_report(sub.run_id)
    assert report.status is ExecutionStatus.FAILED
    assert "supervisor" in report.message and "died unexpectedly" in report.message


def test_submit_survives_the_submitting_process_and_reattaches():
    code = (
        "import sys; sys.path.insert(0, '.');"
        "from flowyml.stacks.local import LocalOrchestrator;"
        "from tests.core.lifecycle_pipelines import quick;"
        "print(LocalOrchestrator().run_pipeline(quick, run_id='survivor').run_id)"
    )
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "survivor"
    assert time.monotonic() - started < 30
    import flowyml

    result = flowyml.attach("survivor")
    assert result.wait_for_completion(timeout=60, poll_interval=0.2) is ExecutionStatus.COMPLETED
    assert result.get_output("total") == 3


def _hammer(home: str, index: int) -> None:
    os.environ["FLOWYML_HOME"] = home
    from flowyml.plugins.types import RunHandle

    registry = RunRegistry()
    for j in range(10):
        run_id = f"p{index}-r{j}"
        registry.record(RunHandle(backend="local", run_id=run_id, job_id=run_id, pipeline_name="x"))
        registry.update_status(run_id, ExecutionStatus.RUNNING)
        registry.get(run_id)
        registry.list(limit=5)


def test_twenty_processes_writing_the_registry_lose_nothing(flowyml_home: Path):
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(str(flowyml_home), i)) for i in range(20)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    rows = RunRegistry().list(limit=1000)
    assert len(rows) == 200
    assert all(r.status is ExecutionStatus.RUNNING for r in rows)


def test_a_sigkilled_writer_leaves_no_readable_partial_artifact(tmp_path: Path):
    code = (
        "import os, sys\n"
        "from flowyml.artifacts.storage import FileStorage\n"
        "from flowyml.artifacts.store import ArtifactStore\n"
        f"store = ArtifactStore({tmp_path.as_uri()!r}, storage=FileStorage({tmp_path.as_uri()!r}))\n"
        "import flowyml.core.atomic as atomic\n"
        "real_fsync = os.fsync\n"
        "def stall(fd):\n"
        "    print('writing', flush=True)\n"
        "    import time; time.sleep(60)\n"
        "os.fsync = stall\n"
        "store.save(os.urandom(20_000_000), 'big')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"  # the data is written but not yet renamed
    proc.kill()
    proc.wait()
    from flowyml.artifacts.storage import FileStorage
    from flowyml.artifacts.store import ArtifactStore
    from flowyml.core.errors import ArtifactNotFoundError

    store = ArtifactStore(tmp_path.as_uri(), storage=FileStorage(tmp_path.as_uri()))
    assert not store.exists("big")
    with pytest.raises(ArtifactNotFoundError):
        store.load("big")
    assert store.storage.list_keys() == []  # the temp file is not listed as an object


def test_wait_timeout_reports_timed_out_and_can_cancel_the_run():
    from flowyml.core.errors import RunTimedOutError, WaitTimeoutError
    from tests.core import lifecycle_pipelines

    orchestrator = LocalOrchestrator(grace_period=1)
    sub = orchestrator.run_pipeline(lifecycle_pipelines.slow, pipeline_module=f"{TARGET}:slow")
    with pytest.raises(RunTimedOutError) as info:
        sub.wait_for_completion(timeout=0.5, poll_interval=0.1)
    assert isinstance(info.value, WaitTimeoutError)
    assert info.value.status is ExecutionStatus.TIMED_OUT and not info.value.cancelled
    assert not orchestrator.get_run_status(sub.run_id).is_finished  # the run goes on
    with pytest.raises(RunTimedOutError) as info:
        sub.wait_for_completion(timeout=0.2, poll_interval=0.1, cancel_on_timeout=True, cancel_grace=30)
    assert info.value.cancelled and info.value.final_status is ExecutionStatus.CANCELLED
    assert orchestrator.get_run_status(sub.run_id) is ExecutionStatus.CANCELLED


def test_a_run_id_in_use_is_refused_for_another_pipeline_and_nothing_is_lost():
    from flowyml.core.errors import RunIdConflictError

    orchestrator = LocalOrchestrator()
    from tests.core import lifecycle_pipelines

    first = orchestrator.run_pipeline(lifecycle_pipelines.quick, run_id="taken", pipeline_module=f"{TARGET}:quick")
    assert first.wait_for_completion(timeout=60, poll_interval=0.1) is ExecutionStatus.COMPLETED
    outputs = first.outputs()
    spec_before = (paths.run_dir("taken") / "job.json").read_bytes()
    again = orchestrator.run_pipeline(lifecycle_pipelines.quick, run_id="taken", pipeline_module=f"{TARGET}:quick")
    assert again.job_id == first.job_id  # the same spec: idempotent
    with pytest.raises(RunIdConflictError, match=r"run id 'taken' is taken: its job spec differs \(.*pipeline"):
        orchestrator.run_pipeline(lifecycle_pipelines.slow, run_id="taken", pipeline_module=f"{TARGET}:slow")
    assert first.outputs() == outputs  # the finished run's outputs are intact
    assert (paths.run_dir("taken") / "job.json").read_bytes() == spec_before
    assert RunRegistry().get("taken").handle.pipeline_name == lifecycle_pipelines.quick.name


def test_the_cli_refuses_a_taken_run_id_in_one_line(tmp_path: Path):
    base = ["run", "--stack", "local", "--run-id", "cli-taken"]
    ok = cli(*base, f"{TARGET}:quick", check=False)
    assert ok.returncode == 0, ok.stderr
    clash = cli(*base, f"{TARGET}:slow", check=False)
    assert clash.returncode == 2
    assert clash.stderr.count("\n") == 1 and "run id 'cli-taken' is taken" in clash.stderr
