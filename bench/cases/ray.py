"""Ray (issue 13): submit -> first unit running, and a fan-out of 4 x 2 s units on a two-node cluster.

The cluster is real (Ray on 127.0.0.1, a head and a worker node with 2 logical CPUs each) and runs
in a loopback-only network namespace with its own PID namespace, so this case runs its measurement
in a child process started with ``unshare`` (root). The child starts the cluster, warms it with one
run, then times ``RayOrchestrator.run_pipeline`` until the first unit reads RUNNING, and the
fan-out from submit until the run reads COMPLETED, against its critical path (one unit: 2 s).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from flowyml.core.context import context
from flowyml.core.pipeline import Pipeline
from flowyml.core.step import step

TITLE = "Ray: submit to first unit running; fan-out of 4 x 2 s units on 2 nodes vs its critical path"
UNIT_SECONDS = 2.0
WIDTH = 4


@step(outputs=["held"])
def hold(seconds: float = 1.0) -> float:
    time.sleep(seconds)
    return seconds


def _part(index: int) -> Any:
    @step(outputs=[f"part{index}"], name=f"part{index}", resources={"cpu": "1"})
    def part(seconds: float = UNIT_SECONDS) -> float:
        time.sleep(seconds)
        return seconds

    return part


#: one unit that stays running for ``seconds``
first_unit = Pipeline("bench-ray-first-unit", context=context(seconds=3.0), enable_cache=False).add_step(hold)
#: WIDTH independent units of UNIT_SECONDS each: the critical path is one unit
fan_out = Pipeline("bench-ray-fan-out", context=context(seconds=UNIT_SECONDS), enable_cache=False)
for _i in range(WIDTH):
    fan_out.add_step(_part(_i))


def available() -> str | None:
    for module in ("flowyml_ray", "ray"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs root and unshare for a loopback-only network namespace"
    return None


def _first_running(orchestrator: Any, run_id: str) -> dict[str, float]:
    """Seconds from ``run_pipeline`` to: its return, the unit's task starting on a node (from the
    driver's record), and the first status that shows the unit RUNNING (what a user sees)."""
    start_wall, start = time.time(), time.perf_counter()
    sub = orchestrator.run_pipeline(first_unit, run_id=run_id)
    submitted = time.perf_counter() - start
    while True:
        report = orchestrator.get_status_report(sub.job_id)
        if any(s.name == "RUNNING" for s in report.units.values()):
            seen = time.perf_counter() - start
            break
        if report.status.is_finished or time.perf_counter() - start > 120:
            raise RuntimeError(f"run {run_id} never showed a running unit: {report}")
        time.sleep(0.02)
    sub.wait_for_completion(timeout=120, poll_interval=0.2)
    details = orchestrator.get_run_details(sub.job_id)
    return {
        "submit_s": submitted,
        "task_started_s": details["units"]["hold"]["started_at"] - start_wall,
        "driver_started_s": (details["driver_started_at"] or start_wall) - start_wall,
        "status_running_s": seen,
    }


def _fan_out(orchestrator: Any, run_id: str) -> dict[str, Any]:
    start = time.perf_counter()
    sub = orchestrator.run_pipeline(fan_out, run_id=run_id)
    status = sub.wait_for_completion(timeout=180, poll_interval=0.1)
    wall = time.perf_counter() - start
    units = orchestrator.get_run_details(sub.job_id)["units"]
    starts = [u["started_at"] for u in units.values()]
    ends = [u["finished_at"] for u in units.values()]
    return {
        "status": status.name,
        "wall_s": wall,
        "nodes": len({u["node_id"] for u in units.values()}),
        "overlap_s": min(ends) - max(starts),
        "units_span_s": max(ends) - min(starts),
    }


def plain_ray_driver(width: int, seconds: float) -> None:
    """The same fan-out written directly on Ray (a peer reference): ``width`` tasks sleeping ``seconds``."""
    import ray

    ray.init(log_to_driver=False)

    @ray.remote(num_cpus=1)
    def part(s: float) -> float:
        time.sleep(s)
        return s

    ray.get([part.remote(seconds) for _ in range(width)])


def _plain_ray(address: str, job: str, entrypoint: str | None = None) -> float:
    """Seconds from ``submit_job`` to SUCCEEDED for :func:`plain_ray_driver` (or ``entrypoint``) as a Ray Job."""
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    start = time.perf_counter()
    command = entrypoint or f"python -m bench.cases.ray --plain {WIDTH} {UNIT_SECONDS}"
    client.submit_job(entrypoint=command, submission_id=job)
    while (state := str(client.get_job_status(job).value)) not in ("SUCCEEDED", "FAILED", "STOPPED"):
        time.sleep(0.1)
    if state != "SUCCEEDED":
        raise RuntimeError(f"the plain Ray job {job} ended {state}: {client.get_job_logs(job)[-2000:]}")
    return time.perf_counter() - start


def measure(reps: int) -> dict[str, Any]:
    """Inside the namespace: start the cluster, warm it, time ``reps`` runs of each pipeline."""
    from flowyml.stacks.ray import RayOrchestrator
    from flowyml_ray.testing import RayTestCluster

    root = Path(tempfile.mkdtemp(prefix="frb", dir="/tmp"))
    os.environ["FLOWYML_HOME"] = str(root / "home")
    cluster = RayTestCluster(root / "c", cpus=2, cwd=Path(__file__).resolve().parents[2])
    started = time.perf_counter()
    cluster.start()
    cluster_s = time.perf_counter() - started
    try:
        orchestrator = RayOrchestrator(
            address=cluster.address, artifact_store=(root / "artifacts").as_uri(), log_poll_interval=0.2
        )
        _first_running(orchestrator, "bench-warm")  # the first job also starts worker processes
        first = [_first_running(orchestrator, f"bench-first-{i}") for i in range(reps)]
        fans = [_fan_out(orchestrator, f"bench-fan-{i}") for i in range(reps)]
        plain = [_plain_ray(cluster.address, f"bench-plain-{i}") for i in range(reps)]
        floor = [_plain_ray(cluster.address, f"bench-true-{i}", "true") for i in range(reps)]
    finally:
        cluster.stop(grace=3)
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return {
        "cluster_start_s": round(cluster_s, 1),
        "first": first,
        "fan_out": fans,
        "plain_ray_s": plain,
        "empty_job_s": floor,
        "ray": _version(),
        "load": load,
    }


def _version() -> str:
    from importlib.metadata import version

    return version("ray")


def run(settings: Any) -> Any:
    from bench.model import CaseResult, Row, median, skipped
    from bench.proc import PYTHON, REPO_ROOT, child_env

    missing = available()
    if missing:
        return skipped("ray", TITLE, missing)
    if settings.mode == "smoke":  # tests/ray/test_bench_case.py runs this case's code on the test cluster
        return skipped("ray", TITLE, "smoke mode (a 2-node cluster takes ~30 s to start): python -m bench --only ray")
    reps = 3
    inner = f"{PYTHON} -m bench.cases.ray {reps}"
    proc = subprocess.run(
        ["unshare", "-n", "-p", "-f", "--mount-proc", "sh", "-c", f"ip link set lo up && exec {inner}"],
        cwd=REPO_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the Ray benchmark failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    result = CaseResult("ray", TITLE, details=doc)
    first = median([r["status_running_s"] for r in doc["first"]])
    task = median([r["task_started_s"] for r in doc["first"]])
    submit = median([r["submit_s"] for r in doc["first"]])
    walls = [r["wall_s"] for r in doc["fan_out"]]
    wall = median(walls)
    result.rows.append(
        Row.of(
            "ray_first_unit",
            "submit -> first unit RUNNING (`run_pipeline` to the unit's first RUNNING status)",
            round(first, 2),
            "s",
            f"median of {len(doc['first'])}; `run_pipeline` returns in {submit:.2f} s, the unit's task starts at "
            f"{task:.2f} s; warm 2-node cluster, Ray {doc['ray']}, load {doc['load']}",
        )
    )
    nodes = sorted({r["nodes"] for r in doc["fan_out"]})
    result.rows.append(
        Row.of(
            "ray_fanout_wall",
            f"fan-out of {WIDTH} x {UNIT_SECONDS:.0f} s units on 2 nodes, submit -> COMPLETED",
            round(wall, 2),
            "s",
            f"critical path {UNIT_SECONDS:.0f} s ({wall / UNIT_SECONDS:.2f}x); runs "
            f"{', '.join(f'{w:.2f}' for w in walls)} s; the units overlapped "
            f"{min(r['overlap_s'] for r in doc['fan_out']):.2f} s on {'/'.join(map(str, nodes))} nodes; the same "
            f"fan-out written on plain Ray, as a Ray Job: {median(doc['plain_ray_s']):.2f} s; an empty Ray Job "
            f"(`true`): {median(doc['empty_job_s']):.2f} s",
        )
    )
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--plain"]:  # the plain-Ray reference, as a Ray Job's entrypoint
        plain_ray_driver(int(sys.argv[2]), float(sys.argv[3]))
    else:  # inside the namespace (see ``run``)
        print(json.dumps(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
