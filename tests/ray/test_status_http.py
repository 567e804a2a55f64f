"""`flowyml status` of a Ray run reads the Jobs API over plain HTTP: Ray (about 0.7 s to import) is not
loaded, and the answers and errors read as through the SDK (404 not found, 401 AuthError, no answer transient)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from flowyml.core.status import ExecutionStatus as S
from tests.cli_process import cli_env, run_cli
from tests.ray import ray_pipelines


def test_status_of_a_ray_run_does_not_import_ray(ray_cluster: Any, tmp_path: Path) -> None:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    (project / "flowyml.yaml").write_text(
        f"stacks:\n  ray-test:\n    orchestrator: {{type: ray, address: '{ray_cluster.address}'}}\n"
        f"    artifact_store: {{uri: '{(tmp_path / 'artifacts').as_uri()}'}}\n"
    )
    env = cli_env(home, repo_on_path=True)
    run_id = f"http-{uuid.uuid4().hex[:8]}"
    argv = ["run", "tests.ray.ray_pipelines:fan_out", "--stack", "ray-test", "--run-id", run_id, "-p", "seconds=0.1"]
    submitted = run_cli(*argv, cwd=project, env=env, timeout=300)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    code = (
        "import sys, io, contextlib, json\n"
        "from flowyml.cli.main import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        f"    assert main(['status', {run_id!r}, '--json']) == 0\n"
        "print(json.dumps({'doc': json.loads(buf.getvalue()), 'ray': sorted(m for m in sys.modules if m == 'ray'"
        " or m.startswith('ray.'))}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got["ray"] == []
    assert got["doc"]["status"] == "COMPLETED" and set(got["doc"]["units"].values()) == {"COMPLETED"}


def test_the_http_status_path_reads_errors_as_the_sdk_did(ray_cluster: Any, tmp_path: Path, monkeypatch) -> None:
    from flowyml.core.errors import AuthError, RunNotFoundError, TransientBackendError
    from flowyml.stacks.ray import RayOrchestrator
    from flowyml_ray.client import job_info, list_job_infos
    from flowyml_ray.config import RayConfig
    from tests.ray.lossy_proxy import LossyProxy

    monkeypatch.setenv("FLOWYML_HOME", str(tmp_path / "home"))
    orchestrator = RayOrchestrator(address=ray_cluster.address, artifact_store=(tmp_path / "a").as_uri())
    sub = orchestrator.run_pipeline(
        ray_pipelines.fan_out, run_id=f"errs-{uuid.uuid4().hex[:8]}", context={"seconds": 0.1}
    )
    assert sub.wait_for_completion(timeout=120, poll_interval=0.2) is S.COMPLETED
    config = RayConfig(address=ray_cluster.address)
    # the run is COMPLETED once the driver published its success; Ray says SUCCEEDED when the driver has exited
    deadline = time.monotonic() + 30
    while job_info(config, sub.job_id).status != "SUCCEEDED" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job_info(config, sub.job_id).status == "SUCCEEDED"
    assert sub.job_id in {j.submission_id for j in list_job_infos(config)}
    assert orchestrator.get_run_statuses([sub.run_id])[sub.run_id].status is S.COMPLETED  # status_many
    with pytest.raises(RunNotFoundError, match="does not know this job"):
        orchestrator.get_status_report(sub.handle.evolve(job_id="no-such-job"))
    proxy = LossyProxy(ray_cluster.address, token="t0ken")
    address = proxy.start()
    try:
        behind = RayOrchestrator(address=address, artifact_store=(tmp_path / "a").as_uri())
        with pytest.raises(AuthError, match="auth_token"):
            behind.get_status_report(sub.handle)
        token = RayOrchestrator(address=address, artifact_store=(tmp_path / "a").as_uri(), auth_token="t0ken")
        assert token.get_status_report(sub.handle).status is S.COMPLETED
    finally:
        proxy.stop()
    monkeypatch.setenv("FLOWYML_BACKEND_RETRY_ATTEMPTS", "2")
    down = RayOrchestrator(address="http://127.0.0.1:9", artifact_store=(tmp_path / "a").as_uri())
    with pytest.raises(TransientBackendError, match=r"127\.0\.0\.1:9"):
        down.get_status_report(sub.handle)


def test_only_http_addresses_take_the_plain_http_path() -> None:
    from flowyml_ray.client import plain_http
    from flowyml_ray.config import RayConfig

    assert plain_http(RayConfig()) and plain_http(RayConfig(address="https://ray.example.com"))
    assert not plain_http(RayConfig(address="anyscale://my-cluster"))  # the provider's SDK answers those
