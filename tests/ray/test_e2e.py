"""End to end on the two-node cluster: concurrency across nodes, failure, cancel, logs, re-attach, idempotency."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from flowyml.core.errors import RunFailedError
from flowyml.core.resources import DockerConfig
from flowyml.core.status import ExecutionStatus as S
from tests.cli_process import cli_env, run_cli
from tests.ray import ray_pipelines


def _run_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def orchestrator(ray_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from flowyml.stacks.ray import RayOrchestrator

    monkeypatch.setenv("FLOWYML_HOME", str(tmp_path / "home"))
    markers = tmp_path / "markers"
    markers.mkdir()
    return RayOrchestrator(
        address=ray_cluster.address,
        artifact_store=(tmp_path / "artifacts").as_uri(),
        docker_config=DockerConfig(env_vars={"RAY_E2E_MARKER_DIR": str(markers)}),
        log_poll_interval=0.2,
    )


def test_independent_units_run_at_once_on_both_nodes(orchestrator: Any) -> None:
    sub = orchestrator.run_pipeline(ray_pipelines.fan_out, run_id=_run_id("fan"))
    assert sub.wait_for_completion(timeout=120, poll_interval=0.2) is S.COMPLETED
    assert sub.get_output("parts") == [0, 1, 2, 3]
    parts = [sub.get_output(f"part{i}") for i in range(4)]  # timings measured inside the steps
    assert max(p["started"] for p in parts) < min(p["finished"] for p in parts), "the four units did not overlap"
    details = orchestrator.get_run_details(sub.job_id)
    units = details["units"]
    workers = [units[f"work{i}"] for i in range(4)]
    assert len({u["node_id"] for u in workers}) == 2, f"the units did not use both nodes: {workers}"
    assert max(u["started_at"] for u in workers) < min(u["finished_at"] for u in workers)
    assert units["gather"]["started_at"] >= max(u["finished_at"] for u in workers) - 0.05  # after its dependencies
    assert details["dashboard_url"].endswith(f"/#/jobs/{sub.job_id}")
    # COMPLETED once the driver published its success; Ray's own job state says SUCCEEDED once the driver exited
    deadline = time.monotonic() + 60
    while details["state"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
        details = orchestrator.get_run_details(sub.job_id)
    assert details["state"] == "SUCCEEDED" and details["driver_node_id"]
    from flowyml.artifacts.store import ArtifactStore
    from flowyml_ray.progress import read_progress

    driver = read_progress(ArtifactStore(sub.handle.artifact_root), sub.run_id)["driver"]
    assert driver["log_hub_node_id"] == driver["node_id"]  # the units' last lines never wait on another node
    assert set(orchestrator.get_status_report(sub.job_id).units.values()) == {S.COMPLETED}


def test_a_failing_step_fails_the_run_with_its_error_and_cancels_what_depends_on_it(orchestrator: Any) -> None:
    sub = orchestrator.run_pipeline(ray_pipelines.failing_chain, run_id=_run_id("chain"))
    with pytest.raises(RunFailedError) as info:
        sub.wait_for_completion(timeout=120, poll_interval=0.2)
    assert "ray e2e: the step broke after ok" in str(info.value)
    report = orchestrator.get_status_report(sub.job_id)
    assert report.status is S.FAILED
    assert report.units == {"fine": S.COMPLETED, "broken": S.FAILED, "after": S.CANCELLED}
    assert "broken" in (report.message or "") and "RuntimeError" in (report.message or "")


def test_cancel_stops_the_running_task_and_ends_cancelled(orchestrator: Any, tmp_path: Path) -> None:
    sub = orchestrator.run_pipeline(ray_pipelines.long_nap, run_id=_run_id("cancel"))
    markers = tmp_path / "markers"
    deadline = time.monotonic() + 60
    while not list(markers.glob("pid-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = [int(p.read_text()) for p in markers.glob("pid-*")]
    assert pids, "the step never started"
    assert orchestrator.get_run_status(sub.job_id) is S.RUNNING
    started = time.monotonic()
    orchestrator.stop_run(sub.job_id)
    seen = []  # STOPPING while the driver cancels its tasks, until Ray says STOPPED
    while time.monotonic() - started < 30 and (not seen or seen[-1].status is not S.CANCELLED):
        seen.append(orchestrator.get_status_report(sub.job_id))
        time.sleep(0.05)
    assert seen[0].status is S.STOPPING and (seen[0].native_state or "").startswith("RUNNING/stop-requested"), seen[0]
    assert seen[-1].status is S.CANCELLED, seen[-1]
    took = time.monotonic() - started
    for pid in pids:  # the step-runner (same PID namespace as this test) is gone with its task
        for _ in range(50):
            if not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the step process {pid} still runs after the cancel")
    assert took < 15, f"cancel took {took:.1f}s"
    assert orchestrator.get_status_report(sub.job_id).units == {"nap": S.CANCELLED}
    messages = [r.message for r in orchestrator.iter_logs(sub.job_id)]
    assert any("stop requested" in m for m in messages), messages
    orchestrator.stop_run(sub.job_id)  # idempotent once ended
    assert orchestrator.get_run_status(sub.job_id) is S.CANCELLED


def test_logs_are_tagged_by_unit_and_resume_from_a_cursor(orchestrator: Any) -> None:
    sub = orchestrator.run_pipeline(ray_pipelines.fan_out, run_id=_run_id("logs"), context={"seconds": 0.2})
    assert sub.wait_for_completion(timeout=120, poll_interval=0.2) is S.COMPLETED
    records = list(orchestrator.iter_logs(sub.job_id))
    by_unit = {r.unit: [] for r in records}
    for r in records:
        by_unit[r.unit].append(r.message)
    for i in range(4):
        assert any(f"work{i} sleeping" in m for m in by_unit[f"work{i}"]), by_unit.get(f"work{i}")
        assert any(f"step work{i} ok" in m for m in by_unit[f"work{i}"])  # the step-runner's JSON lines, parsed
    assert any("gathering 4 parts" in m for m in by_unit["gather"])
    assert any("succeeded" in m for m in by_unit[None])  # the driver's own lines carry no unit
    cut = next(i for i, r in enumerate(records) if r.unit == "work2")
    rest = list(orchestrator.iter_logs(sub.job_id, cursor=records[cut].cursor))
    assert [(r.unit, r.message) for r in rest] == [(r.unit, r.message) for r in records[cut + 1 :]]
    assert all(r.timestamp > 0 for r in records)


def test_submitting_a_run_twice_gives_the_same_ray_job(orchestrator: Any) -> None:
    from flowyml_ray.client import client_for

    run_id = _run_id("twice")
    first = orchestrator.run_pipeline(ray_pipelines.fan_out, run_id=run_id, context={"seconds": 0.1})
    second = orchestrator.run_pipeline(ray_pipelines.fan_out, run_id=run_id, context={"seconds": 0.1})
    assert first.job_id == second.job_id == f"flowyml-{run_id}"
    jobs = [
        j for j in client_for(orchestrator.config).list_jobs() if (j.metadata or {}).get("flowyml_run_id") == run_id
    ]
    assert len(jobs) == 1
    assert second.wait_for_completion(timeout=120, poll_interval=0.2) is S.COMPLETED
    batched = orchestrator.get_run_statuses([run_id])  # status_many: one list_jobs for every run
    assert batched[run_id].status is S.COMPLETED and set(batched[run_id].units.values()) == {S.COMPLETED}


def _cli(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env=cli_env(home, repo_on_path=True))


def test_the_cli_runs_watches_and_cancels_from_fresh_processes(ray_cluster: Any, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    home = tmp_path / "cli-home"
    (project / "flowyml.yaml").write_text(
        "stacks:\n"
        "  ray-test:\n"
        f"    orchestrator: {{type: ray, address: '{ray_cluster.address}', log_poll_interval: 0.2,"
        " runtime_env: {env_vars: {FLOWYML_E2E: 'from-the-stack'}}}\n"
        f"    artifact_store: {{uri: '{(tmp_path / 'artifacts').as_uri()}'}}\n"
    )
    run_id = _run_id("cli")
    target = "tests.ray.ray_pipelines:long_nap"
    submitted = _cli(
        ["run", target, "--stack", "ray-test", "--detach", "--run-id", run_id, "-p", "seconds=60"], project, home
    )
    assert submitted.returncode == 0, submitted.stderr
    assert run_id in submitted.stdout
    deadline = time.monotonic() + 60
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = _cli(["status", run_id, "--json"], project, home)
        assert status.returncode == 0, status.stderr
        doc = json.loads(status.stdout)
        if doc["status"] == "RUNNING" and "nap=RUNNING" in json.dumps(doc):
            break
        time.sleep(0.3)
    assert doc["status"] == "RUNNING", doc
    details = json.loads(_cli(["status", run_id, "--details", "--json"], project, home).stdout)
    assert "FLOWYML_E2E" in json.dumps(details) and "from-the-stack" not in json.dumps(details)  # env keys only
    logs = _cli(["logs", run_id], project, home)
    assert logs.returncode == 0 and "napping" in logs.stdout, logs.stdout + logs.stderr
    cancelled = _cli(["cancel", run_id], project, home)
    assert cancelled.returncode == 0, cancelled.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        doc = json.loads(_cli(["status", run_id, "--json"], project, home).stdout)
        if doc["status"] == "CANCELLED":
            break
        time.sleep(0.3)
    assert doc["status"] == "CANCELLED", doc
    followed = _cli(["logs", "-f", run_id], project, home)  # ends: the run has ended
    assert followed.returncode == 0 and "napping" in followed.stdout


def test_a_cluster_behind_a_token_needs_auth_token_and_never_stores_it(ray_cluster: Any, tmp_path: Path) -> None:
    from flowyml.core.errors import AuthError
    from flowyml.stacks.ray import RayOrchestrator
    from tests.ray.lossy_proxy import LossyProxy

    proxy = LossyProxy(ray_cluster.address, token="s3cr3t-token")
    address = proxy.start()
    try:
        artifacts = (tmp_path / "artifacts").as_uri()
        with pytest.raises(AuthError, match="auth_token"):
            RayOrchestrator(address=address, artifact_store=artifacts).run_pipeline(
                ray_pipelines.failing_chain, run_id=_run_id("noauth")
            )
        orchestrator = RayOrchestrator(address=address, artifact_store=artifacts, auth_token="s3cr3t-token")
        sub = orchestrator.run_pipeline(ray_pipelines.failing_chain, run_id=_run_id("auth"))
        assert orchestrator.get_run_status(sub.job_id) in {S.QUEUED, S.RUNNING, S.FAILED}
        stored = orchestrator.registry.get(sub.run_id).handle.to_json()
        shown = json.dumps(orchestrator.get_run_details(sub.job_id), default=str) + json.dumps(orchestrator.to_dict())
        assert "s3cr3t-token" not in stored and "s3cr3t-token" not in shown
        assert sub.wait_for_completion(timeout=120, poll_interval=0.2, raise_on_failure=False) is S.FAILED
    finally:
        proxy.stop()


def test_an_unreachable_cluster_is_transient_never_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flowyml.core.errors import TransientBackendError
    from flowyml.stacks.ray import RayOrchestrator

    monkeypatch.setenv("FLOWYML_BACKEND_RETRY_ATTEMPTS", "2")
    orchestrator = RayOrchestrator(address="http://127.0.0.1:9", artifact_store=(tmp_path / "a").as_uri())
    with pytest.raises(TransientBackendError, match=r"127\.0\.0\.1:9"):
        orchestrator.run_pipeline(ray_pipelines.failing_chain, run_id=_run_id("down"))


def test_a_run_past_its_timeout_is_stopped_and_reads_timed_out(orchestrator: Any) -> None:
    sub = orchestrator.run_pipeline(ray_pipelines.long_nap, run_id=_run_id("timeout"), timeout=4)
    assert sub.wait_for_completion(timeout=120, poll_interval=0.2, raise_on_failure=False) is S.TIMED_OUT
    report = orchestrator.get_status_report(sub.job_id)
    assert report.units == {"nap": S.TIMED_OUT}
    assert any("timed out" in r.message for r in orchestrator.iter_logs(sub.job_id))


def test_gpu_requests_land_on_the_node_that_has_them(ray_cluster: Any, tmp_path: Path, monkeypatch: Any) -> None:
    """The worker node declares one GPU, accelerator type T4 and a custom resource; the head has none."""
    from flowyml.stacks.ray import RayOrchestrator
    from flowyml_ray.testing import WORKER_RESOURCE

    monkeypatch.setenv("FLOWYML_HOME", str(tmp_path / "home"))
    orchestrator = RayOrchestrator(
        address=ray_cluster.address,
        artifact_store=(tmp_path / "artifacts").as_uri(),
        accelerator_resources={"test-accel": WORKER_RESOURCE},
    )
    sub = orchestrator.run_pipeline(ray_pipelines.gpu_units, run_id=_run_id("gpu"))
    assert sub.wait_for_completion(timeout=120, poll_interval=0.2) is S.COMPLETED
    assert sub.get_output("t4") == "0" and sub.get_output("accel") == "0"  # Ray gave each its GPU
    units = orchestrator.get_run_details(sub.job_id)["units"]
    worker = ray_cluster.node_ids()["worker"]
    assert units["on_t4"]["node_id"] == worker and units["on_accelerator"]["node_id"] == worker


def test_a_cluster_without_flowyml_fails_the_run_with_the_fix(ray_cluster: Any, tmp_path: Path) -> None:
    from flowyml.stacks.ray import RayOrchestrator

    # `python -S` has no site-packages: the driver cannot import flowyml_ray, as on a bare cluster
    orchestrator = RayOrchestrator(
        address=ray_cluster.address, artifact_store=(tmp_path / "artifacts").as_uri(), python="python -S"
    )
    sub = orchestrator.run_pipeline(ray_pipelines.failing_chain, run_id=_run_id("bare"))
    with pytest.raises(RunFailedError) as info:
        sub.wait_for_completion(timeout=120, poll_interval=0.2)
    assert "No module named 'flowyml" in str(info.value) and "runtime_env" in str(info.value)


def test_a_unit_whose_worker_dies_fails_and_its_dependents_are_cancelled(orchestrator: Any) -> None:
    sub = orchestrator.run_pipeline(ray_pipelines.worker_crash, run_id=_run_id("crash"))
    assert sub.wait_for_completion(timeout=120, poll_interval=0.2, raise_on_failure=False) is S.FAILED
    report = orchestrator.get_status_report(sub.job_id)
    assert report.units == {"kill_my_worker": S.FAILED, "after_the_crash": S.CANCELLED}
    assert "Ray could not run unit kill_my_worker" in (report.message or ""), report.message
