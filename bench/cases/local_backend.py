"""The local backend (issue 4): submit -> first step running, and ``flowyml status RUN`` wall time."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from bench.model import CaseResult, Row, median, skipped, summary
from bench.proc import REPO_ROOT, child_env, isolated_home, script_path, timed_run
from bench.settings import Settings

TITLE = "Local backend: submit → first step running; `flowyml status RUN`"


def available() -> str | None:
    """None if the local backend and the CLI exist, else what is missing."""
    for module in ("flowyml.backends.local.backend", "flowyml.orchestrators.remote"):
        if importlib.util.find_spec(module) is None:
            return f"{module} missing"
    if script_path("flowyml") is None:
        return "the `flowyml` console script is missing"
    return None


def _wait_for(path: Path, timeout: float) -> float:
    """Poll until ``path`` holds the time the step's body began; return that time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = path.read_text()
        except FileNotFoundError:
            text = ""
        if text:
            return float(text)
        time.sleep(0.002)
    raise TimeoutError(f"the first step did not start within {timeout:g}s")


def _first_running(orchestrator, run_id: str, timeout: float) -> float:
    """Poll the backend's status until some unit reads RUNNING (or later); return when it did."""
    from flowyml.core.status import ExecutionStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = orchestrator.get_status_report(run_id)
        if report.status.is_finished or any(s is not ExecutionStatus.PENDING for s in report.units.values()):
            return time.time()
        time.sleep(0.002)
    raise TimeoutError(f"run {run_id} did not report RUNNING within {timeout:g}s")


def run(settings: Settings) -> CaseResult:
    missing = available()
    if missing:
        return skipped("local_backend", TITLE, missing)
    from bench.workloads import first_step
    from flowyml.orchestrators import RemoteOrchestrator

    result = CaseResult("local_backend", TITLE)
    submit_s, reported_s, body_s = [], [], []
    with isolated_home() as home:
        orchestrator = RemoteOrchestrator.for_backend("local", {"workdir": str(REPO_ROOT)})
        run_ids = []
        for i in range(settings.local_reps):
            marker = home / f"started-{i}"
            t0 = time.time()
            sub = orchestrator.run_pipeline(first_step, context={"marker": str(marker), "hold": settings.local_hold})
            submit_s.append(time.time() - t0)
            reported_s.append(_first_running(orchestrator, sub.run_id, 30) - t0)
            body_s.append(_wait_for(marker, 30) - t0)
            sub.wait_for_completion(timeout=60, poll_interval=0.2)
            run_ids.append(sub.run_id)
        status_walls = []
        cli = str(script_path("flowyml"))
        env = child_env({"FLOWYML_HOME": str(home)})
        for i in range(settings.status_reps + 1):  # the first call is an untimed warm-up
            wall, _, _ = timed_run([cli, "status", run_ids[-1]], env=env)
            if i:
                status_walls.append(wall)
        start = time.perf_counter()
        orchestrator.get_run_status(run_ids[-1])
        in_process_ms = (time.perf_counter() - start) * 1000
    result.details = {
        "submit_returns_s": summary(submit_s, 1, 4),
        "status_reports_running_s": summary(reported_s, 1, 4),
        "step_body_started_s": summary(body_s, 1, 4),
        "status_cli_wall_s": summary(status_walls, 1, 4),
        "status_in_process_ms": round(in_process_ms, 2),
    }
    result.rows.append(
        Row.of(
            "local_first_step",
            "submit → the first step's code running (local backend)",
            round(median(body_s), 3),
            "s",
            f"run_pipeline returns in {median(submit_s) * 1000:.0f} ms; status reads RUNNING after "
            f"{median(reported_s) * 1000:.0f} ms (median of {settings.local_reps})",
        )
    )
    result.rows.append(
        Row.of(
            "status_wall",
            "`flowyml status RUN` wall time (whole CLI process)",
            round(median(status_walls), 3),
            "s",
            f"median of {len(status_walls)}; the status call itself takes {in_process_ms:.1f} ms in-process",
        )
    )
    return result
