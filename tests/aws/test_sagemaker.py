"""sagemaker against moto through the fault proxy.

moto finishes training jobs at once and lacks StopTrainingJob: the proxy overlays the state
sequence (InProgress/Starting -> Training -> Completed | Failed, Stopping -> Stopped) and answers
StopTrainingJob, and the fake runs each job's ContainerEntrypoint + Environment as a local
subprocess. Not proven here: the image, the IAM role's permissions, instance availability.
"""

from __future__ import annotations

import json

import pytest

from flowyml.core.status import ExecutionStatus as S
from flowyml.testing import pipelines as kit
from flowyml_aws import states
from tests.aws.aws_pipelines import diamond, failing_chain

pytestmark = pytest.mark.aws
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/flowyml:1"


@pytest.fixture
def orch(sagemaker_config, artifact_root, store_settings):
    from flowyml.core.resources import DockerConfig
    from flowyml.stacks.aws import SageMakerOrchestrator

    return SageMakerOrchestrator(
        role_arn=sagemaker_config.role_arn,
        endpoint_url=sagemaker_config.endpoint_url,
        volume_size_gb=30,
        max_runtime_seconds=7200,
        artifact_store=artifact_root,
        store_settings=store_settings,
        docker_config=DockerConfig(image=IMAGE, env_vars={"TEAM": "ml"}),
    )


def _created(fake) -> dict[str, dict]:
    return {c.json()["TrainingJobName"]: c.json() for c in fake.proxy.sent("CreateTrainingJob", injected=False)}


def test_training_job_request_and_dag_advanced_by_status(fake, orch, artifact_root) -> None:
    sub = orch.run_pipeline(diamond, run_id="sm-dag")
    names = sub.handle.units
    assert list(_created(fake)) == [names["load"]]  # only the root starts at submit
    body = _created(fake)[names["load"]]
    assert body["AlgorithmSpecification"] == {
        "TrainingImage": IMAGE,
        "TrainingInputMode": "File",
        "ContainerEntrypoint": [
            "flowyml",
            "step-runner",
            "--job",
            f"{artifact_root}/runs/sm-dag/job.json",
            "--unit",
            "load",
        ],
    }
    assert body["RoleArn"].endswith("role/flowyml-sagemaker")
    assert body["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    assert body["OutputDataConfig"] == {"S3OutputPath": f"{artifact_root}/sagemaker"}
    assert body["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}
    assert body["Environment"]["TEAM"] == "ml" and body["Environment"]["FLOWYML_UNIT"] == "load"
    assert {"Key": "flowyml:run-id", "Value": "sm-dag"} in body["Tags"]
    assert orch.get_status_report(sub.run_id).units == {
        "load": S.PROVISIONING,
        "double": S.PENDING,
        "square": S.PENDING,
        "combine": S.PENDING,
    }
    fake.sm_state[names["load"]] = {"status": "Completed", "secondary": "Completed"}
    report = orch.get_status_report(sub.run_id)  # starts double and square, not combine
    assert set(_created(fake)) == {names["load"], names["double"], names["square"]}
    assert report.status is S.QUEUED or report.status is S.PROVISIONING
    assert _created(fake)[names["double"]]["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"
    fake.sm_state[names["double"]] = {"status": "Completed"}
    orch.get_status_report(sub.run_id)
    assert names["combine"] not in _created(fake)  # square has not completed yet
    fake.sm_state[names["square"]] = {"status": "Completed"}
    orch.get_status_report(sub.run_id)
    assert names["combine"] in _created(fake)
    orch.get_status_report(sub.run_id)
    assert len(fake.proxy.sent("CreateTrainingJob")) == 4  # never twice


@pytest.mark.parametrize(("native", "expected"), sorted(states.SAGEMAKER_STATES.items()))
def test_every_sagemaker_state_maps_through_the_one_table(fake, orch, native: str, expected: S) -> None:
    sub = orch.run_pipeline(kit.slow, run_id=f"sm-{native.replace('/', '-').lower()}")
    fake.set_state(sub.handle, native)
    report = orch.get_status_report(sub.run_id)
    assert report.status is expected
    assert report.native_state == native


def test_failure_reason_is_reported_and_dependants_never_start(fake, orch) -> None:
    sub = orch.run_pipeline(failing_chain, run_id="sm-fail")
    fake.sm_state[sub.handle.units["broken"]] = {
        "status": "Failed",
        "secondary": "Failed",
        "reason": "AlgorithmError: broken on purpose",
    }
    report = orch.get_status_report(sub.run_id)
    assert report.status is S.FAILED
    assert report.message == "unit broken: AlgorithmError: broken on purpose"
    assert report.units == {"broken": S.FAILED, "after": S.CANCELLED}
    assert list(_created(fake)) == [sub.handle.units["broken"]]


def test_stop_a_running_job_reads_stopping_until_stopped(fake, orch) -> None:
    sub = orch.run_pipeline(kit.two_units, run_id="sm-stop")
    fake.sm_state[sub.handle.units["prep"]] = {"status": "InProgress", "secondary": "Training"}
    orch.stop_run(sub.run_id)
    assert [c.json()["TrainingJobName"] for c in fake.proxy.sent("StopTrainingJob")] == [sub.handle.units["prep"]]
    assert orch.get_run_status(sub.run_id) is S.STOPPING
    fake.settle(sub.handle)
    report = orch.get_status_report(sub.run_id)
    assert report.status is S.CANCELLED and report.units == {"prep": S.CANCELLED, "total": S.CANCELLED}
    assert len(fake.proxy.sent("CreateTrainingJob")) == 1


def test_cancel_between_units_starts_nothing_more(fake, orch) -> None:
    sub = orch.run_pipeline(kit.two_units, run_id="sm-between")
    fake.sm_state[sub.handle.units["prep"]] = {"status": "Completed"}
    orch.stop_run(sub.run_id)  # the next unit is due but not created yet
    assert fake.proxy.sent("StopTrainingJob") == []
    report = orch.get_status_report(sub.run_id)
    assert report.status is S.CANCELLED and report.units == {"prep": S.COMPLETED, "total": S.CANCELLED}
    assert len(fake.proxy.sent("CreateTrainingJob")) == 1
    tags = fake.sm.list_tags(
        ResourceArn=fake.sm.describe_training_job(TrainingJobName=sub.handle.units["prep"])["TrainingJobArn"]
    )["Tags"]
    assert states.CANCEL_TAG in {t["Key"] for t in tags}


def test_throttled_create_status_stop_and_logs_never_fail_the_run(fake, orch) -> None:
    with fake.faults("submit", 2):
        sub = orch.run_pipeline(kit.two_units, run_id="sm-throttle")
    assert fake.count_creates(sub.handle) == 1
    with fake.faults("status", 2, status=503, code="ServiceUnavailable"):
        assert orch.get_run_status(sub.run_id) is S.PROVISIONING
    fake.sm_state[sub.handle.units["prep"]] = {"status": "InProgress", "secondary": "Training"}
    fake._write_logs("/aws/sagemaker/TrainingJobs", f"{sub.handle.units['prep']}/algo-1-1", ["x", "y"])
    with fake.faults("logs", 2):
        assert [r.message for r in orch.iter_logs(sub.run_id)] == ["x", "y"]
    with fake.faults("cancel", 2):
        orch.stop_run(sub.run_id)
    assert orch.get_run_status(sub.run_id) is S.STOPPING


def test_logs_from_every_instance_stream_by_cursor(fake, orch) -> None:
    sub = orch.run_pipeline(kit.slow, run_id="sm-logs")
    name = sub.handle.units["sleep_long"]
    fake._write_logs("/aws/sagemaker/TrainingJobs", f"{name}/algo-1-100", ["one", "two"])
    fake._write_logs("/aws/sagemaker/TrainingJobs", f"{name}/algo-2-100", ["three"])
    fake._write_logs("/aws/sagemaker/TrainingJobs", "other-job/algo-1-100", ["not ours"])
    records = list(orch.iter_logs(sub.run_id))
    assert [r.message for r in records] == ["one", "two", "three"]
    assert [r.message for r in orch.iter_logs(sub.run_id, cursor=records[0].cursor)] == ["two", "three"]


def test_details_with_console_urls(fake, orch) -> None:
    sub = orch.run_pipeline(kit.two_units, run_id="sm-details")
    fake.sm_state[sub.handle.units["prep"]] = {"status": "InProgress", "secondary": "Training"}
    details = orch.get_run_details(sub.run_id)
    prep, total = details["units"]["prep"], details["units"]["total"]
    assert prep["state"] == "InProgress" and prep["secondary_status"] == "Training" and prep["status"] == "RUNNING"
    assert prep["console_url"].endswith(f"#/jobs/{sub.handle.units['prep']}")
    assert prep["training_job_arn"].startswith("arn:aws:sagemaker:us-east-1:")
    assert total["state"] == "NotStarted" and total["depends_on"] == ["prep"]
    assert details["status"] == "RUNNING"
    json.dumps(details)


def test_end_to_end_diamond_on_sagemaker(fake, orch) -> None:
    sub = orch.run_pipeline(diamond, run_id="sm-e2e", context={"n": 3})
    fake.execute(sub.handle)
    assert sub.wait_for_completion(timeout=90, poll_interval=0.1) is S.COMPLETED
    assert sub.get_output("result") == 2 * 6 + 14
    assert "combining" in [r.message for r in sub.logs()]


def test_stop_racing_the_jobs_end_is_not_an_error(fake, orch) -> None:
    from tests.aws.fault_proxy import error_reply

    sub = orch.run_pipeline(kit.slow, run_id="sm-race")
    fake.proxy.add_rule(
        "StopTrainingJob",
        lambda req, fwd: error_reply(req, 400, "ValidationException", "The job status is Completed"),
    )
    orch.stop_run(sub.run_id)  # the job completed between our describe and our stop
    assert len(fake.proxy.sent("StopTrainingJob")) == 1
