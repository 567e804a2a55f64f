"""Attacks on the ``ray`` backend, on the two-node cluster: a killed driver, a killed submitter, a run id
reused with another artifact store, hostile unit names, and a dashboard that goes away mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from flowyml.core.errors import RunIdConflictError, RunTimedOutError
from flowyml.core.status import ExecutionStatus as S
from tests.ray import ray_pipelines
from tests.ray.conftest import REPO


def _run_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _orchestrator(address: str, artifacts: Path, **kwargs: Any) -> Any:
    from flowyml.stacks.ray import RayOrchestrator

    return RayOrchestrator(address=address, artifact_store=artifacts.as_uri(), log_poll_interval=0.2, **kwargs)


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def test_a_killed_driver_fails_the_run_saying_so_and_its_steps_end(
    ray_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowyml.artifacts.store import ArtifactStore
    from flowyml.core.resources import DockerConfig
    from flowyml_ray.progress import read_progress

    monkeypatch.setenv("FLOWYML_HOME", str(tmp_path / "home"))
    markers = tmp_path / "markers"
    markers.mkdir()
    orchestrator = _orchestrator(
        ray_cluster.address,
        tmp_path / "artifacts",
        docker_config=DockerConfig(env_vars={"RAY_E2E_MARKER_DIR": str(markers)}),
    )
    sub = orchestrator.run_pipeline(ray_pipelines.long_nap, run_id=_run_id("killdriver"))
    deadline = time.monotonic() + 60
    while not list(markers.glob("pid-*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    steps = [int(p.read_text()) for p in markers.glob("pid-*")]
    assert steps, "the step never started"
    driver = read_progress(ArtifactStore((tmp_path / "artifacts").as_uri()), sub.run_id)["driver"]["pid"]
    os.kill(driver, signal.SIGKILL)  # as the OOM killer would (same PID namespace as this test)
    assert sub.wait_for_completion(timeout=60, poll_interval=0.2, raise_on_failure=False) is S.FAILED
    report = orchestrator.get_status_report(sub.job_id)
    assert report.units == {"nap": S.CANCELLED}
    message = report.message or ""
    assert "driver" in message and "SIGKILL" in message, message
    assert "flowyml|" not in message, message  # not a raw log line of the job
    assert all(_gone(pid) for pid in steps), f"the step processes {steps} outlived the driver"


SUBMIT_AND_DIE = """
import sys
from flowyml.stacks.ray import RayOrchestrator
from tests.ray import ray_pipelines
address, root, run_id = sys.argv[1:4]
RayOrchestrator(address=address, artifact_store=root).run_pipeline(
    ray_pipelines.fan_out, run_id=run_id, context={"seconds": 0.1}
)
"""


def test_a_run_whose_submitter_died_after_ray_accepted_it_is_adopted(
    ray_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowyml.orchestrators import RemoteOrchestrator
    from flowyml.orchestrators.registry import RunRegistry
    from flowyml_ray.client import client_for
    from flowyml_ray.config import RayConfig

    home = tmp_path / "home"
    monkeypatch.setenv("FLOWYML_HOME", str(home))
    run_id = _run_id("died")
    env = {**os.environ, "FLOWYML_TEST_KILL_AT": "after_submit", "PYTHONPATH": str(REPO)}
    args = [ray_cluster.address, (tmp_path / "artifacts").as_uri(), run_id]
    proc = subprocess.run(
        [sys.executable, "-c", SUBMIT_AND_DIE, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 86, proc.stderr  # killed right after Ray accepted the job
    row = RunRegistry().get(run_id)
    assert row.status is S.SUBMITTING
    orchestrator = RemoteOrchestrator.for_handle(row.handle)
    status = orchestrator.get_run_status(run_id)  # reconciled: the backend's find adopts the job
    assert status not in (S.FAILED, S.SUBMITTING), orchestrator.registry.get(run_id).message
    adopted = orchestrator.registry.get(run_id).handle
    assert adopted.job_id == f"flowyml-{run_id}" and set(adopted.units) == {*(f"work{i}" for i in range(4)), "gather"}
    from flowyml.orchestrators.remote import attach

    assert attach(run_id).wait_for_completion(timeout=120, poll_interval=0.2) is S.COMPLETED
    jobs = client_for(RayConfig(address=ray_cluster.address)).list_jobs()
    assert sum(1 for j in jobs if (j.metadata or {}).get("flowyml_run_id") == run_id) == 1  # adopting made none


def test_a_run_id_another_store_used_on_the_cluster_is_refused(
    ray_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWYML_HOME", str(tmp_path / "home-a"))
    run_id = _run_id("reused")
    first = _orchestrator(ray_cluster.address, tmp_path / "team-a")
    sub = first.run_pipeline(ray_pipelines.failing_chain, run_id=run_id)
    monkeypatch.setenv("FLOWYML_HOME", str(tmp_path / "home-b"))  # another user, another store, same id
    second = _orchestrator(ray_cluster.address, tmp_path / "team-b")
    with pytest.raises(RunIdConflictError, match=rf"flowyml-{run_id}.*team-a") as info:
        second.run_pipeline(ray_pipelines.fan_out, run_id=run_id)
    assert "nothing was submitted" in str(info.value)
    monkeypatch.setenv("FLOWYML_HOME", str(tmp_path / "home-a"))
    assert sub.wait_for_completion(timeout=120, poll_interval=0.2, raise_on_failure=False) is S.FAILED
    assert "the step broke" in (first.get_status_report(run_id).message or "")  # the first run was left alone


def test_hostile_names_and_a_dashboard_outage_mid_run(
    ray_cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit named ``-`` and a non-ASCII one keep their log tags; while the Jobs API does not answer, status
    is transient (never FAILED) and waiting goes on; the run completes once it answers again."""
    from flowyml.core.errors import TransientBackendError
    from tests.ray.lossy_proxy import LossyProxy

    monkeypatch.setenv("FLOWYML_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FLOWYML_BACKEND_RETRY_ATTEMPTS", "2")
    proxy = LossyProxy(ray_cluster.address)
    address = proxy.start()
    try:
        orchestrator = _orchestrator(address, tmp_path / "artifacts")
        run_id = _run_id("naïve-run")
        sub = orchestrator.run_pipeline(ray_pipelines.odd_names, run_id=run_id, context={"seconds": 4.0})
        assert sub.job_id.startswith("flowyml-na-ve-run-")  # Ray's id is ASCII, hashed to stay unique
        with proxy.down():
            with pytest.raises(TransientBackendError, match=r"127\.0\.0\.1"):
                orchestrator.get_status_report(run_id)
            assert orchestrator.registry.get(run_id).status is not S.FAILED
            with pytest.raises(RunTimedOutError, match="it goes on"):  # waiting saw no answer: no verdict
                sub.wait_for_completion(timeout=1.5, poll_interval=0.2)
            assert orchestrator.registry.get(run_id).status is not S.FAILED
        assert sub.wait_for_completion(timeout=120, poll_interval=0.2) is S.COMPLETED
        assert sub.get_output("joined") == "-+ü"
        records = list(orchestrator.iter_logs(run_id))
        by_unit: dict[str | None, list[str]] = {}
        for record in records:
            by_unit.setdefault(record.unit, []).append(record.message)
        assert any("unit dash here" in m for m in by_unit.get("-", [])), by_unit
        assert any("unit ünït here" in m for m in by_unit.get("ünït", [])), by_unit
        assert not any("dash here" in m for m in by_unit.get(None, [])), by_unit.get(None)
        units = orchestrator.get_status_report(run_id).units
        assert units == {"-": S.COMPLETED, "ünït": S.COMPLETED, "join": S.COMPLETED}
    finally:
        proxy.stop()
