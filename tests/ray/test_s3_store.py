"""A Ray run on an ``s3://`` artifact store (moto's server on 127.0.0.1): the driver and every unit open the store
from the settings flowyml ships in the runtime_env, with the credentials the stack gives the nodes."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowyml.core.status import ExecutionStatus as S
from tests.ray import ray_pipelines

BUCKET = "flowyml-ray-test"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    pytest.importorskip("flowyml_aws")
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_a_run_on_an_s3_store_reads_and_writes_it_from_every_node(
    ray_cluster: Any, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from flowyml.orchestrators.layout import RunLayout
    from flowyml.stacks.ray import RayOrchestrator

    monkeypatch.setenv("FLOWYML_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    orchestrator = RayOrchestrator(
        address=ray_cluster.address,
        artifact_store=f"s3://{BUCKET}/artifacts",
        store_settings={"endpoint_url": moto, "region": "us-east-1"},
        runtime_env={"env_vars": {**CREDENTIALS, "AWS_EC2_METADATA_DISABLED": "true"}},
        log_poll_interval=0.2,
    )
    run_id = f"s3-{uuid.uuid4().hex[:8]}"
    sub = orchestrator.run_pipeline(ray_pipelines.fan_out, run_id=run_id, context={"seconds": 0.5})
    assert sub.wait_for_completion(timeout=120, poll_interval=0.2) is S.COMPLETED
    assert sub.get_output("parts") == [0, 1, 2, 3]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"artifacts/runs/{run_id}/")["Contents"]}
    assert f"artifacts/runs/{run_id}/ray/progress.json" in keys  # the driver wrote its progress there
    layout = RunLayout(run_id)
    assert {f"artifacts/{layout.unit_result(u)}" for u in sub.handle.units} <= keys, sorted(keys)  # each unit too
    units = orchestrator.get_run_details(sub.job_id)["units"]
    assert {u["state"] for u in units.values()} == {"SUCCEEDED"} and len({u["node_id"] for u in units.values()}) == 2
    shown = json.dumps(orchestrator.get_run_details(sub.job_id), default=str)
    assert "AWS_SECRET_ACCESS_KEY" in shown and "testing" not in shown  # env var names, never their values
