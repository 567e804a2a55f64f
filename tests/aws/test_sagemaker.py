"""sagemaker against moto through the fault proxy.

A single-unit run is one training job; a multi-unit run is a SageMaker Pipeline. moto stores
pipelines and executions but runs no step, lacks ListPipelineExecutionSteps and
StopPipelineExecution, and ignores ClientRequestToken: the proxy scripts them — an execution
runs its steps in DependsOn order, each as a training job whose ContainerEntrypoint and
Environment (from the definition we sent) run as a local subprocess. moto finishes training
jobs at once and lacks StopTrainingJob: the proxy overlays those states too.
Not proven here: the image, the IAM role's permissions, instance availability.
"""

from __future__ import annotations

import json

import pytest

from flowyml.core.status import ExecutionStatus as S
from flowyml.orchestrators.layout import RunLayout
from flowyml.testing import pipelines as kit
from flowyml_aws import names, pipeline_definition, states
from tests.aws import pipeline_schema
from tests.aws.aws_pipelines import diamond, failing_chain

pytestmark = pytest.mark.aws
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/flowyml:1"
#: calls that change something in SageMaker
WRITES = ("CreatePipeline", "UpdatePipeline", "StartPipelineExecution", "StopPipelineExecution", "CreateTrainingJob")


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


def _definition(fake) -> dict:
    (call,) = fake.proxy.sent("CreatePipeline", injected=False)
    return json.loads(call.json()["PipelineDefinition"])


def _writes(fake) -> int:
    return sum(len(fake.proxy.sent(a)) for a in WRITES)


def test_a_multi_unit_run_is_one_pipeline_of_training_steps_with_depends_on(fake, orch, artifact_root) -> None:
    sub = orch.run_pipeline(diamond, run_id="sm-dag")
    assert _created(fake) == {}  # no training job is started by flowyml: the pipeline starts them
    doc = _definition(fake)
    pipeline_schema.check(doc)  # the published definition schema's shape (see pipeline_schema.py)
    steps = {s["Name"]: s for s in doc["Steps"]}
    assert list(steps) == ["load", "double", "square", "combine"] == list(sub.handle.units.values())
    assert "DependsOn" not in steps["load"]
    assert steps["double"]["DependsOn"] == steps["square"]["DependsOn"] == ["load"]
    assert steps["combine"]["DependsOn"] == ["double", "square"]
    load = steps["load"]["Arguments"]
    assert load["AlgorithmSpecification"] == {
        "TrainingImage": IMAGE,
        "TrainingInputMode": "File",
        "ContainerEntrypoint": [
            "flowyml",
            "step-runner",
            "--job",
            f"{artifact_root}/{RunLayout('sm-dag').spec}",
            "--unit",
            "load",
        ],
    }
    assert "TrainingJobName" not in load and load["RoleArn"].endswith("role/flowyml-sagemaker")
    assert load["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    assert load["OutputDataConfig"] == {"S3OutputPath": f"{artifact_root}/sagemaker"}
    assert load["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}
    assert load["Environment"]["TEAM"] == "ml" and load["Environment"]["FLOWYML_UNIT"] == "load"
    assert load["Environment"]["AWS_REGION"] == load["Environment"]["AWS_DEFAULT_REGION"] == "us-east-1"
    assert {"Key": "flowyml:run-id", "Value": "sm-dag"} in load["Tags"]
    assert steps["double"]["Arguments"]["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"
    (start,) = fake.proxy.sent("StartPipelineExecution", injected=False)
    assert start.json()["ClientRequestToken"] == names.client_token("sm-dag", "execution")
    assert start.json()["PipelineName"] == sub.handle.metadata["pipeline_name"]
    assert sub.job_id.startswith("arn:aws:sagemaker:us-east-1:") and "/execution/" in sub.job_id
    assert "ParallelismConfiguration" not in fake.proxy.sent("CreatePipeline")[0].json()


def test_max_parallel_steps_becomes_the_pipelines_parallelism(fake, orch) -> None:
    import attrs

    orch.config = attrs.evolve(orch.config, max_parallel_steps=2)
    orch.run_pipeline(diamond, run_id="sm-parallel")
    (create,) = fake.proxy.sent("CreatePipeline")
    assert create.json()["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 2}


def test_status_calls_only_read_and_the_dag_advances_without_them(fake, orch) -> None:
    sub = orch.run_pipeline(diamond, run_id="sm-readonly", context={"n": 3})
    writes = _writes(fake)
    for _ in range(3):
        report = orch.get_status_report(sub.run_id)
        assert report.status is S.RUNNING
        assert report.units == {u: S.PENDING for u in sub.handle.units}
    orch.get_run_details(sub.run_id)
    list(orch.iter_logs(sub.run_id))
    assert _writes(fake) == writes  # status, details and logs change nothing in SageMaker
    fake.execute(sub.handle)  # the "cloud" runs the whole DAG with nobody polling
    report = orch.get_status_report(sub.run_id)
    assert report.status is S.COMPLETED and set(report.units.values()) == {S.COMPLETED}
    assert _writes(fake) == writes


def test_end_to_end_diamond_as_a_sagemaker_pipeline(fake, orch) -> None:
    sub = orch.run_pipeline(diamond, run_id="sm-e2e", context={"n": 3})
    fake.execute(sub.handle)
    assert sub.wait_for_completion(timeout=90, poll_interval=0.1) is S.COMPLETED
    assert sub.get_output("result") == 2 * 6 + 14
    messages = [r.message for r in sub.logs()]
    assert messages.index("loading 3 rows") < messages.index("combining")
    details = orch.get_run_details(sub.run_id)
    assert details["pipeline_execution_arn"] == sub.job_id and details["status"] == "COMPLETED"
    combine = details["units"]["combine"]
    assert combine["state"] == "Succeeded" and combine["depends_on"] == ["double", "square"]
    assert combine["training_job_name"].startswith("pipelines-") and combine["console_url"]
    json.dumps(details)


def test_a_failed_step_fails_the_run_and_its_dependants_never_start(fake, orch) -> None:
    sub = orch.run_pipeline(failing_chain, run_id="sm-fail")
    fake.execute(sub.handle)
    report = orch.get_status_report(sub.run_id)
    assert report.status is S.FAILED
    assert report.units == {"broken": S.FAILED, "after": S.CANCELLED}
    assert report.message.startswith("unit broken: AlgorithmError: exit code 1")
    assert "broken on purpose" in report.message  # the step-runner's error, joined by core
    assert list(fake.executions[sub.job_id]["steps"]) == ["broken"]  # "after" never got a training job
    assert orch.get_run_details(sub.run_id)["units"]["after"]["state"] == "NotStarted"


def test_stop_reads_stopping_until_sagemaker_confirms_then_cancelled(fake, orch) -> None:
    sub = orch.run_pipeline(kit.two_units, run_id="sm-stop")
    orch.stop_run(sub.run_id)
    (stop,) = fake.proxy.sent("StopPipelineExecution")
    assert stop.json() == {
        "PipelineExecutionArn": sub.job_id,
        "ClientRequestToken": names.client_token("sm-stop", "stop"),
    }
    assert orch.get_run_status(sub.run_id) is S.STOPPING
    orch.stop_run(sub.run_id)  # already stopping: nothing more to ask
    assert len(fake.proxy.sent("StopPipelineExecution")) == 1
    fake.settle(sub.handle)
    report = orch.get_status_report(sub.run_id)
    assert report.status is S.CANCELLED and report.units == {"prep": S.CANCELLED, "total": S.CANCELLED}
    orch.stop_run(sub.run_id)
    assert len(fake.proxy.sent("StopPipelineExecution")) == 1


def test_resubmitting_a_run_reuses_its_pipeline_and_execution(fake, orch) -> None:
    first = orch.run_pipeline(kit.two_units, run_id="sm-again")
    second = orch.run_pipeline(kit.two_units, run_id="sm-again")
    assert second.job_id == first.job_id
    assert len(fake.proxy.sent("CreatePipeline")) == 1 and fake.count_creates(first.handle) == 1


def test_a_lost_start_answer_finds_the_execution_it_started(fake, orch) -> None:
    from tests.aws.fault_proxy import error_reply

    lost = {"n": 0}

    def lose_first(req, forward):
        reply = fake._on_start_execution(req, forward)
        if lost["n"] == 0:
            lost["n"] += 1
            return error_reply(req, 500, "InternalFailure", "the answer got lost")
        return reply

    fake.proxy.add_rule("StartPipelineExecution", lose_first)
    sub = orch.run_pipeline(kit.two_units, run_id="sm-lost")
    assert fake.count_creates(sub.handle) == 1  # the retry listed the executions and found it


def test_a_single_unit_run_stays_one_training_job(fake, orch) -> None:
    sub = orch.run_pipeline(kit.slow, run_id="sm-single")
    assert fake.proxy.sent("CreatePipeline") == []
    (name,) = _created(fake)
    assert sub.job_id == name == names.sagemaker_job_name("flowyml", "sm-single", "sleep_long")
    body = _created(fake)[name]
    assert body["AlgorithmSpecification"]["ContainerEntrypoint"][-1] == "sleep_long"
    assert body["Environment"]["AWS_REGION"] == "us-east-1"
    assert orch.get_run_status(sub.run_id) is S.PROVISIONING
    orch.stop_run(sub.run_id)
    assert [c.json()["TrainingJobName"] for c in fake.proxy.sent("StopTrainingJob")] == [name]
    assert orch.get_run_status(sub.run_id) is S.STOPPING
    fake.settle(sub.handle)
    assert orch.get_run_status(sub.run_id) is S.CANCELLED


@pytest.mark.parametrize(("native", "expected"), sorted(states.SAGEMAKER_STATES.items()))
def test_every_sagemaker_state_maps_through_the_one_table(fake, orch, native: str, expected: S) -> None:
    pipeline = kit.two_units if native.startswith("Pipeline/") else kit.slow
    sub = orch.run_pipeline(pipeline, run_id=f"sm-{native.replace('/', '-').lower()}")
    fake.set_state(sub.handle, native)
    report = orch.get_status_report(sub.run_id)
    assert report.status is expected
    assert report.native_state == native


def test_unit_names_outside_the_step_name_alphabet_get_a_hashed_step_name() -> None:
    assert pipeline_definition.step_name("train_model-2") == "train_model-2"
    dotted = pipeline_definition.step_name("prep.v2")
    assert pipeline_schema.STEP_NAME["pattern"] and dotted.startswith("prep-v2-") and len(dotted) <= 64
    assert dotted != pipeline_definition.step_name("prep-v2")
    long = pipeline_definition.step_name("x" * 100)
    assert len(long) <= 64 and long != pipeline_definition.step_name("x" * 99)


def test_throttled_create_status_stop_and_logs_never_fail_the_run(fake, orch) -> None:
    with fake.faults("submit", 2):
        sub = orch.run_pipeline(kit.two_units, run_id="sm-throttle")
    assert fake.count_creates(sub.handle) == 1
    with fake.faults("status", 2, status=503, code="ServiceUnavailable"):
        assert orch.get_run_status(sub.run_id) is S.RUNNING
    fake.execute(sub.handle)
    expected = [r.message for r in orch.iter_logs(sub.run_id)]
    assert any("summing" in m for m in expected)
    with fake.faults("logs", 2):
        assert [r.message for r in orch.iter_logs(sub.run_id)] == expected
    again = orch.run_pipeline(kit.two_units, run_id="sm-throttle-stop")
    with fake.faults("cancel", 2):
        orch.stop_run(again.run_id)
    assert orch.get_run_status(again.run_id) is S.STOPPING


def test_logs_from_every_instance_stream_by_cursor(fake, orch) -> None:
    sub = orch.run_pipeline(kit.slow, run_id="sm-logs")
    name = sub.handle.units["sleep_long"]
    fake._write_logs("/aws/sagemaker/TrainingJobs", f"{name}/algo-1-100", ["one", "two"])
    fake._write_logs("/aws/sagemaker/TrainingJobs", f"{name}/algo-2-100", ["three"])
    fake._write_logs("/aws/sagemaker/TrainingJobs", "other-job/algo-1-100", ["not ours"])
    records = list(orch.iter_logs(sub.run_id))
    assert [r.message for r in records] == ["one", "two", "three"]
    assert [r.message for r in orch.iter_logs(sub.run_id, cursor=records[0].cursor)] == ["two", "three"]


def test_stop_racing_the_jobs_end_is_not_an_error(fake, orch) -> None:
    from tests.aws.fault_proxy import error_reply

    sub = orch.run_pipeline(kit.slow, run_id="sm-race")
    fake.proxy.add_rule(
        "StopTrainingJob",
        lambda req, fwd: error_reply(req, 400, "ValidationException", "The job status is Completed"),
    )
    orch.stop_run(sub.run_id)  # the job completed between our describe and our stop
    assert len(fake.proxy.sent("StopTrainingJob")) == 1


def test_a_file_artifact_store_is_refused_before_anything_is_created(fake, sagemaker_config, tmp_path) -> None:
    from flowyml.core.errors import ConfigError
    from flowyml.stacks.aws import SageMakerOrchestrator

    orch = SageMakerOrchestrator(
        role_arn=sagemaker_config.role_arn,
        endpoint_url=sagemaker_config.endpoint_url,
        artifact_store=tmp_path.as_uri(),
        image=IMAGE,
    )
    with pytest.raises(ConfigError, match="cannot read the local artifact store"):
        orch.run_pipeline(kit.two_units, run_id="sm-local-store")
    assert _writes(fake) == 0 and not list(tmp_path.iterdir())


def test_a_definition_over_sagemakers_size_limit_is_refused_before_anything_is_created(
    fake, sagemaker_config, artifact_root, store_settings
) -> None:
    from flowyml.core.errors import ConfigError
    from flowyml.core.resources import DockerConfig
    from flowyml.stacks.aws import SageMakerOrchestrator
    from tests.aws.aws_pipelines import wide

    big = {f"LARGE_{i}": "x" * 512 for i in range(91)}  # within the per-job limits, 22 units: over 1 MiB
    orch = SageMakerOrchestrator(
        role_arn=sagemaker_config.role_arn,
        endpoint_url=sagemaker_config.endpoint_url,
        artifact_store=artifact_root,
        store_settings=store_settings,
        docker_config=DockerConfig(image=IMAGE, env_vars=big),
    )
    with pytest.raises(ConfigError, match=r"over SageMaker's 1048576"):
        orch.run_pipeline(wide, run_id="sm-too-big")
    assert _writes(fake) == 0


@pytest.mark.parametrize(
    ("mutation", "error"),
    [
        ("step name outside the alphabet", "ValidationError"),
        ("unknown Training argument", "ValidationError"),
        ("step type other than Training", "ValidationError"),
        ("DependsOn an unknown step", "AssertionError"),
        ("DependsOn cycle", "AssertionError"),
        ("duplicate step name", "AssertionError"),
        ("environment value not a string", "ValidationError"),
        ("no RoleArn (required by CreateTrainingJob)", "ParamValidationError"),
        ("MaxRuntimeInSeconds below SageMaker's minimum", "ParamValidationError"),
    ],
)
def test_the_definition_oracles_reject_what_sagemaker_would(fake, orch, mutation: str, error: str) -> None:
    """The checks the definition passes can fail: each mutation of the definition we generate is refused."""
    import copy

    orch.run_pipeline(diamond, run_id="sm-oracle")
    good = _definition(fake)
    pipeline_schema.check(good)
    doc = copy.deepcopy(good)
    steps = doc["Steps"]
    args = steps[1]["Arguments"]
    if mutation == "step name outside the alphabet":
        steps[0]["Name"] = "load.data"
    elif mutation == "unknown Training argument":
        args["TrainingJobName"] = "x"  # SageMaker names a step's job: the published schema has no such key
    elif mutation == "step type other than Training":
        steps[0]["Type"] = "Processing"
    elif mutation == "DependsOn an unknown step":
        steps[1]["DependsOn"] = ["nowhere"]
    elif mutation == "DependsOn cycle":
        steps[0]["DependsOn"] = [steps[3]["Name"]]
    elif mutation == "duplicate step name":
        steps[2]["Name"] = steps[1]["Name"]
    elif mutation == "environment value not a string":
        args["Environment"]["N"] = 3
    elif mutation == "no RoleArn (required by CreateTrainingJob)":
        del args["RoleArn"]
    else:
        args["StoppingCondition"]["MaxRuntimeInSeconds"] = 0
    with pytest.raises(Exception) as info:
        pipeline_schema.check(doc)
    assert type(info.value).__name__ == error, info.value


def test_a_pipeline_a_dead_submitter_created_but_never_started_is_updated_and_started(fake, orch) -> None:
    """The submitter died between CreatePipeline and StartPipelineExecution (here: the start is refused
    once). Submitting the run again finds the pipeline with no execution, puts this run's definition
    back with UpdatePipeline, and starts the one execution, which runs end to end."""
    from flowyml.core.errors import RefusedError
    from tests.aws.fault_proxy import error_reply

    fake.proxy.add_rule("StartPipelineExecution", lambda req, fwd: error_reply(req, 400, "ValidationException", "no"))
    with pytest.raises(RefusedError):
        orch.run_pipeline(diamond, run_id="sm-revive", context={"n": 3})
    assert len(fake.proxy.sent("CreatePipeline")) == 1 and not fake.executions
    fake.proxy.add_rule("StartPipelineExecution", fake._on_start_execution)
    sub = orch.run_pipeline(diamond, run_id="sm-revive", context={"n": 3})
    (update,) = fake.proxy.sent("UpdatePipeline", injected=False)
    assert json.loads(update.json()["PipelineDefinition"]) == _definition(fake)
    assert len(fake.proxy.sent("CreatePipeline")) == 1 and len(fake.executions) == 1
    fake.execute(sub.handle)
    assert sub.wait_for_completion(timeout=90, poll_interval=0.1) is S.COMPLETED
    assert sub.get_output("result") == 2 * 6 + 14
