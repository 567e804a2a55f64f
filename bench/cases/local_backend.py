"""The local backend: submit -> first step running and ``flowyml status RUN`` wall time (issue 4);
the per-unit cost of a 20-unit chain (issue 14).

The chain runs both ways in the same run, interleaved: units forked from the run's step-runner
zygote (the default) and, as the baseline, a fresh ``python -m flowyml.runner`` per unit
(``FLOWYML_LOCAL_FORK_UNITS=0``, how every unit started before).
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

from bench.model import CaseResult, Row, median, skipped, summary
from bench.proc import REPO_ROOT, child_env, isolated_home, script_path, timed_run
from bench.settings import Settings

TITLE = "Local backend: submit → first step running; `flowyml status RUN`; per-unit cost of a chain"
FORK_ENV = "FLOWYML_LOCAL_FORK_UNITS"


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


def _chain_run(orchestrator, pipeline, fork: bool) -> dict[str, float]:
    """One run of the chain, submit to COMPLETED; also the supervisor's own start-to-end span."""
    from flowyml.backends.local.paths import read_json, run_dir

    old = os.environ.get(FORK_ENV)
    os.environ[FORK_ENV] = "1" if fork else "0"  # the detached supervisor inherits our environment
    try:
        t0 = time.time()
        sub = orchestrator.run_pipeline(pipeline, inputs={"v0": 0})
        status = sub.wait_for_completion(timeout=600, poll_interval=0.01)
        wall = time.time() - t0
    finally:
        if old is None:
            os.environ.pop(FORK_ENV, None)
        else:
            os.environ[FORK_ENV] = old
    if str(getattr(status, "value", status)).lower() != "completed":
        raise RuntimeError(f"chain run {sub.run_id} ended {status}")
    state = read_json(run_dir(sub.run_id) / "state.json") or {}
    return {
        "wall_s": wall,
        "supervised_s": state["finished_at"] - state["started_at"],
        "cpu_s": state.get("cpu_seconds", float("nan")),  # supervisor + everything it reaped
    }


def unit_chain_rows(settings: Settings, orchestrator) -> tuple[list[Row], dict]:
    """The chain's per-unit cost, forked units against fresh interpreters, interleaved."""
    from bench import workloads

    pipeline = workloads.chain_of_units if settings.mode == "full" else workloads.short_chain_of_units
    n = len(pipeline.steps)
    load_start = os.getloadavg()[0]
    forked: list[dict[str, float]] = []
    fresh: list[dict[str, float]] = []
    _chain_run(orchestrator, pipeline, True)  # warm-up (bytecode, page cache)
    for _ in range(settings.unit_chain_reps):
        forked.append(_chain_run(orchestrator, pipeline, True))
        fresh.append(_chain_run(orchestrator, pipeline, False))
    load_end = os.getloadavg()[0]

    def per_unit_ms(runs: list[dict[str, float]], key: str) -> float:
        return round(median([r[key] for r in runs]) / n * 1000, 1)

    fork_ms, fresh_ms = per_unit_ms(forked, "wall_s"), per_unit_ms(fresh, "wall_s")
    rows = [
        Row.of(
            "local_unit_cost",
            f"local backend, {n}-unit chain of trivial steps: wall per unit, submit → COMPLETED",
            fork_ms,
            "ms",
            f"median of {len(forked)}; a fresh interpreter per unit, same run: {fresh_ms:.0f} ms "
            f"({fresh_ms / fork_ms:.1f}x); inside the supervisor {per_unit_ms(forked, 'supervised_s'):.0f} ms "
            f"(fresh {per_unit_ms(fresh, 'supervised_s'):.0f} ms); CPU per unit, all processes "
            f"{per_unit_ms(forked, 'cpu_s'):.0f} ms (fresh {per_unit_ms(fresh, 'cpu_s'):.0f} ms); "
            f"load {load_start:.1f} → {load_end:.1f}",
        ),
        Row.of(
            "local_unit_cost_fresh",
            f"the same, every unit a fresh `python -m flowyml.runner` ({FORK_ENV}=0)",
            fresh_ms,
            "ms",
            f"median of {len(fresh)}, interleaved with the row above",
        ),
    ]
    details = {
        "units": n,
        "forked": [{k: round(v, 4) for k, v in r.items()} for r in forked],
        "fresh": [{k: round(v, 4) for k, v in r.items()} for r in fresh],
        "loadavg": [round(load_start, 2), round(load_end, 2)],
    }
    return rows, details


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
        chain_rows, chain_details = unit_chain_rows(settings, orchestrator)
    result.details = {
        "submit_returns_s": summary(submit_s, 1, 4),
        "status_reports_running_s": summary(reported_s, 1, 4),
        "step_body_started_s": summary(body_s, 1, 4),
        "status_cli_wall_s": summary(status_walls, 1, 4),
        "status_in_process_ms": round(in_process_ms, 2),
        "unit_chain": chain_details,
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
    result.rows.extend(chain_rows)
    return result
