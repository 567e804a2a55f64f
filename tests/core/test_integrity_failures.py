"""Failures say what happened: a step's sys.exit or KeyboardInterrupt, broken messages, a closed
stdout and a run on a backend that is not installed each end in a clear report, not a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from flowyml import Pipeline, step
from flowyml.orchestrators.registry import RunRegistry
from flowyml.plugins.types import RunHandle
from tests.cli_process import cli_env, run_cli

ROOT = Path(__file__).parent.parent.parent

HEADER = "from flowyml import Pipeline, step\n\n"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=ROOT, env=cli_env(**(env or {})))


def pipeline_file(tmp_path: Path, body: str, name: str = "pipe.py") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body + "\n\np = Pipeline('failing', enable_cache=False)\np.add_step(first)\n")
    return path


def test_a_step_calling_sys_exit_is_a_step_failure_with_a_summary(tmp_path: Path):
    path = pipeline_file(tmp_path, "@step\ndef first():\n    import sys\n    sys.exit(3)\n")
    proc = cli("run", str(path))
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "pipeline failing FAILED" in proc.stdout
    assert "step 'first' called sys.exit(3)" in proc.stdout


def test_a_keyboard_interrupt_raised_by_a_step_is_a_step_failure_not_a_ctrl_c(tmp_path: Path):
    path = pipeline_file(tmp_path, "@step\ndef first():\n    raise KeyboardInterrupt\n")
    proc = cli("run", str(path))
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "pipeline failing FAILED" in proc.stdout and "raised KeyboardInterrupt (not a Ctrl-C)" in proc.stdout
    assert "interrupted" not in proc.stderr


def test_in_process_sys_exit_and_keyboard_interrupt_fail_the_step_in_any_thread():
    @step(outputs=["a"])
    def exits():
        raise SystemExit(3)

    @step(outputs=["b"])
    def interrupts():
        raise KeyboardInterrupt

    for workers in (1, 2):
        p = Pipeline(f"exits-{workers}", enable_cache=False)
        p.add_step(exits).add_step(interrupts)
        result = p.run(max_workers=workers)
        assert not result.success
        assert "called sys.exit(3)" in result.step_results["exits"].error
        assert "not a Ctrl-C" in result.step_results["interrupts"].error


def test_an_async_step_calling_sys_exit_fails_the_step_not_the_event_loop():
    import asyncio

    @step(outputs=["a"])
    async def exits_async():
        await asyncio.sleep(0)
        raise SystemExit(4)

    @step(outputs=["b"])
    async def fine():
        return 1

    p = Pipeline("exits-async", enable_cache=False)
    p.add_step(exits_async).add_step(fine)
    result = asyncio.run(p.run_async())
    assert not result.success
    assert "called sys.exit(4)" in result.step_results["exits_async"].error
    assert result.step_results["fine"].success


def test_a_real_ctrl_c_still_interrupts_the_run(tmp_path: Path):
    marker = tmp_path / "started"
    touch = f"pathlib.Path({str(marker)!r}).touch()"
    body = f"@step\ndef first():\n    import pathlib, time\n    {touch}\n    time.sleep(60)\n"
    path = pipeline_file(tmp_path, body)
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowyml.cli.main", "run", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert "flowyml: interrupted" in err


BAD_STR = "class Unreadable(Exception):\n    def __str__(self):\n        raise RuntimeError('no message')\n\n"


def test_an_exception_whose_str_raises_is_reported_not_a_crash(tmp_path: Path):
    path = pipeline_file(tmp_path, BAD_STR + "@step\ndef first():\n    raise Unreadable()\n")
    proc = cli("run", str(path))
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "pipeline failing FAILED" in proc.stdout and "Unreadable" in proc.stdout
    assert "Traceback" not in proc.stderr

    module = tmp_path / "broken_import.py"
    module.write_text(BAD_STR + "raise Unreadable()\n")
    proc = cli("run", str(module))
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert f"unexpected error at {module}:5: Unreadable" in proc.stderr  # where the user's code raised
    debug = cli("run", str(module), env={"FLOWYML_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_a_closed_or_broken_stdout_does_not_crash_the_cli(tmp_path: Path):
    closed = subprocess.run(
        ["sh", "-c", f"exec {sys.executable} -m flowyml.cli.main plugins >&-"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert closed.returncode == 0 and "Traceback" not in closed.stderr, closed.stderr

    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody reads: every write is EPIPE
    broken = subprocess.run(
        [sys.executable, "-m", "flowyml.cli.main", "plugins"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    os.close(write_end)
    assert broken.returncode == 0 and "Traceback" not in broken.stderr, broken.stderr

    path = pipeline_file(tmp_path, "@step\ndef first():\n    print('hello')\n    return 1\n")
    ran = subprocess.run(
        ["sh", "-c", f"exec {sys.executable} -m flowyml.cli.main run {path} >&-"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr


def test_runs_lists_everything_when_one_row_needs_a_backend_that_is_not_installed():
    from flowyml.core.status import ExecutionStatus
    from flowyml.stacks.local import LocalOrchestrator
    from tests.core import lifecycle_pipelines

    sub = LocalOrchestrator().run_pipeline(
        lifecycle_pipelines.quick, pipeline_module="tests/core/lifecycle_pipelines.py:quick"
    )
    sub.wait_for_completion(timeout=60, poll_interval=0.1)
    registry = RunRegistry()
    registry.update_status(sub.run_id, ExecutionStatus.RUNNING)  # the registry has not seen the end yet
    gone = RunHandle(backend="vertex_ai", run_id="on-vertex", job_id="projects/p/jobs/1", pipeline_name="v")
    registry.record(gone, status=ExecutionStatus.RUNNING)
    proc = cli("runs", "--json", env={"FLOWYML_LOAD_PLUGINS": ""})
    assert proc.returncode == 0, proc.stderr
    rows = {r["run_id"]: r for r in json.loads(proc.stdout)}
    assert rows["on-vertex"]["status"] == "UNKNOWN" and rows["on-vertex"]["message"] == "needs flowyml[gcp]"
    assert rows[sub.run_id]["status"] == "COMPLETED"  # the other rows are still refreshed
    table = cli("runs", env={"FLOWYML_LOAD_PLUGINS": ""})
    assert table.returncode == 0 and "needs flowyml[gcp]" in table.stdout and sub.run_id in table.stdout


def test_a_local_unit_that_dies_without_a_result_reports_its_exit_code_or_signal(tmp_path: Path):
    for body, expected in [
        ("import os\n    os._exit(7)", "unit 'first' exited with code 7 before it recorded a result"),
        ("import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)", "unit 'first' was killed by SIGKILL"),
    ]:
        path = pipeline_file(tmp_path, f"@step\ndef first():\n    {body}\n", name=f"dies_{len(body)}.py")
        proc = cli("run", str(path), "--stack", "local", "--json")
        assert proc.returncode == 1, (proc.stdout, proc.stderr)
        doc = json.loads(proc.stdout)
        assert doc["status"] == "FAILED" and expected in doc["message"], doc
        assert "ArtifactNotFoundError" not in doc["message"]
