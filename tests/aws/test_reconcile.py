"""A submitter that dies after AWS accepted the run: the next status finds the run through the
backend's ``find`` (by the names derived from the run id) and adopts it, never a ghost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowyml.core.status import ExecutionStatus as S

pytestmark = pytest.mark.aws
REPO = Path(__file__).resolve().parents[2]
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/flowyml:1"

SUBMIT = """
import sys
from flowyml.core.resources import DockerConfig
from flowyml.stacks.aws import AWSBatchOrchestrator, SageMakerOrchestrator
from flowyml.testing import pipelines
backend, endpoint, moto, root = sys.argv[1:5]
common = dict(endpoint_url=endpoint, artifact_store=root, store_settings={"endpoint_url": moto, "region": "us-east-1"})
if backend == "aws_batch":
    orch = AWSBatchOrchestrator(job_queue="flowyml-queue", job_definition="flowyml-step", **common)
else:
    image = DockerConfig(image=sys.argv[6])
    orch = SageMakerOrchestrator(role_arn="arn:aws:iam::123456789012:role/r", docker_config=image, **common)
orch.run_pipeline(pipelines.two_units, run_id=sys.argv[5])
"""


@pytest.mark.parametrize("backend", ["aws_batch", "sagemaker"])
def test_a_run_whose_submitter_died_after_aws_accepted_it_is_adopted(
    fake, batch_config, artifact_root, tmp_path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    from flowyml.orchestrators import RemoteOrchestrator
    from flowyml.orchestrators.registry import RunRegistry

    monkeypatch.setenv("FLOWYML_HOME", str(tmp_path / "home"))
    run_id = f"died-{backend.replace('_', '-')}"
    env = {**os.environ, "FLOWYML_TEST_KILL_AT": "after_submit", "PYTHONPATH": str(REPO)}
    args = [backend, fake.proxy.endpoint, fake.moto, artifact_root, run_id, IMAGE]
    proc = subprocess.run([sys.executable, "-c", SUBMIT, *args], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0, proc.stderr  # killed right after the backend's submit returned
    creates = fake.count_creates(fake_handle := _created_handle(fake, backend, run_id))
    assert creates >= 1  # AWS has the run; the registry only has the provisional row
    row = RunRegistry().get(run_id)
    assert row.status is S.SUBMITTING and not any(row.handle.units.values())  # no native id recorded
    orch = RemoteOrchestrator.for_handle(row.handle)
    status = orch.get_run_status(run_id)  # reconciled: the backend's find adopts what was created
    assert status not in (S.FAILED, S.SUBMITTING), orch.registry.get(run_id).message
    adopted = orch.registry.get(run_id).handle
    assert adopted.job_id == fake_handle.job_id and set(adopted.units) == {"prep", "total"}
    fake.execute(adopted)
    assert orch.get_run_status(run_id) is S.COMPLETED
    assert fake.count_creates(adopted) == creates  # adopting created nothing


def _created_handle(fake, backend: str, run_id: str):
    """What AWS holds for the run, found the way the fake sees it (independent of flowyml's find)."""
    from flowyml.plugins.types import RunHandle

    if backend == "aws_batch":
        units = {
            body["tags"]["flowyml:unit"]: job_id
            for job_id, body in fake.batch_requests.items()
            if body["tags"].get("flowyml:run-id") == run_id
        }
        return RunHandle(backend=backend, run_id=run_id, job_id=units["total"], units=units)
    (arn,) = [a for a, e in fake.executions.items() if run_id in e["pipeline"]]
    return RunHandle(
        backend=backend,
        run_id=run_id,
        job_id=arn,
        units={},
        metadata={"mode": "pipeline", "pipeline_name": fake.executions[arn]["pipeline"]},
    )


def test_find_reports_units_a_dead_submitter_never_reached_as_cancelled(fake, batch_config, artifact_root) -> None:
    """Only the first unit's job exists (the submitter died between two SubmitJob calls)."""
    from flowyml.orchestrators.spec import build_job_spec
    from flowyml.plugins.manager import get_plugin_manager
    from flowyml.testing import pipelines
    from flowyml_aws import names

    spec = build_job_spec(pipelines.two_units, "half-submitted", artifact_root)
    pm = get_plugin_manager()
    assert pm.call("aws_batch", "find", lambda b: b.find(spec, batch_config)) is None  # nothing created yet
    prep = fake.batch.submit_job(
        jobName=names.batch_job_name("flowyml", "half-submitted", "prep"),
        jobQueue="flowyml-queue",
        jobDefinition="flowyml-step",
    )["jobId"]
    fake.batch_state[prep] = {"status": "RUNNING"}
    found = pm.call("aws_batch", "find", lambda b: b.find(spec, batch_config))
    assert found.units == {"prep": prep} and found.metadata["never_submitted"] == ["total"]
    report = pm.status(found, batch_config)
    assert report.units == {"prep": S.RUNNING, "total": S.CANCELLED}
    assert report.status is S.RUNNING and "unit total: never submitted" in report.message
    fake.batch_state[prep] = {"status": "SUCCEEDED", "exitCode": 0}
    assert pm.status(found, batch_config).status is S.CANCELLED  # it ends, and says it did not all run
