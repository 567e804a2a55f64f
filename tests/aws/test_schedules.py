"""AWS schedules through boto3's real ``scheduler`` client against moto (EventBridge Scheduler).

moto stores schedules but fires none: :func:`play` does what EventBridge does at a fire time —
fill the target's context attributes in, call the target's API with its input (through the
proxy, so the fake sees it) — and the fake then executes what that call started, as for any run.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from flowyml.config.errors import ConfigFieldError
from flowyml.core.errors import ConfigError
from flowyml.core.status import ExecutionStatus as S
from flowyml.orchestrators.registry import RunRegistry
from flowyml.plugins.schedules import ScheduleNotFoundError
from tests.aws.aws_pipelines import diamond
from tests.aws.fake_aws import direct_client
from tests.aws.test_secrets_aws import secrets  # noqa: F401  (the fixture: secrets in moto)

pytestmark = pytest.mark.aws
UTC = dt.timezone.utc
ROLE = "arn:aws:iam::123456789012:role/flowyml-scheduler"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/flowyml:1"
FIRST = dt.datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 03:00 in Paris
DIAMOND_RESULT = 2 * 15 + 55  # n=5


@pytest.fixture
def batch_orch(batch_config, artifact_root, store_settings):
    from flowyml.stacks.aws import AWSBatchOrchestrator

    return AWSBatchOrchestrator(
        job_queue=batch_config.job_queue,
        job_definition=batch_config.job_definition,
        endpoint_url=batch_config.endpoint_url,
        aws_secret_access_key="testing-very-secret",
        aws_access_key_id="testing",
        scheduler_role_arn=ROLE,
        artifact_store=artifact_root,
        store_settings=store_settings,
    )


@pytest.fixture
def sm_orch(sagemaker_config, artifact_root, store_settings):
    from flowyml.stacks.aws import SageMakerOrchestrator

    return SageMakerOrchestrator(
        role_arn=sagemaker_config.role_arn,
        image=IMAGE,
        endpoint_url=sagemaker_config.endpoint_url,
        scheduler_role_arn=ROLE,
        artifact_store=artifact_root,
        store_settings=store_settings,
    )


def scheduler(fake) -> Any:
    return direct_client("scheduler", fake.moto)


def _to_model(value: Any, shape: Any) -> Any:
    """A universal target's input (PascalCase members) in the SDK's own member names."""
    if shape.type_name == "structure":
        members = {m.lower(): m for m in shape.members}
        return {members[k.lower()]: _to_model(v, shape.members[members[k.lower()]]) for k, v in value.items()}
    if shape.type_name == "list":
        return [_to_model(v, shape.member) for v in value]
    if shape.type_name == "map":
        return {k: _to_model(v, shape.value) for k, v in value.items()}
    return value


def play(fake, name: str, fire_time: dt.datetime, group: str = "flowyml") -> dict[str, Any]:
    """What EventBridge Scheduler does when ``name`` fires at ``fire_time``: returns the target's answer."""
    from botocore import xform_name

    schedule = scheduler(fake).get_schedule(Name=name, GroupName=group)
    assert schedule["State"] == "ENABLED", "a disabled schedule does not fire"
    target = schedule["Target"]
    assert target["RoleArn"] == ROLE
    prefix, service, action = target["Arn"].rsplit(":", 2)
    assert prefix == "arn:aws:scheduler:::aws-sdk", target["Arn"]
    text = target["Input"]
    context = {
        "scheduled-time": fire_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "execution-id": uuid.uuid4().hex[:16],
        "attempt-number": "1",
        "schedule-arn": schedule["Arn"],
    }
    for key, value in context.items():
        text = text.replace(f"<aws.scheduler.{key}>", value)
    client = direct_client(service, fake.proxy.endpoint)
    operation = client.meta.service_model.operation_model(action[0].upper() + action[1:])
    return dict(getattr(client, xform_name(operation.name))(**_to_model(json.loads(text), operation.input_shape)))


def run_batch_in_order(fake, handle) -> None:
    """Run a recorded Batch run's jobs in dependency order (the registry keeps units sorted by name)."""
    deps = handle.metadata["depends_on"]
    done: list[str] = []
    while len(done) < len(deps):
        ready = sorted(u for u in deps if u not in done and all(d in done for d in deps[u]))
        for unit in ready:
            for barrier in (handle.metadata.get("barriers") or {}).get(unit, []):
                fake._run_batch(barrier)
            fake._run_batch(handle.units[unit])
            done.append(unit)


def _scheduled_runs(name: str) -> list[str]:
    return sorted(r.run_id for r in RunRegistry().list() if r.run_id.startswith(f"{name}-"))


# -- cron ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 3 * * *", "cron(0 3 * * ? *)"),
        ("*/15 9-17 * * 1-5", "cron(0,15,30,45 9-17 ? * MON-FRI *)"),
        ("0 12 * * 0,6,7", "cron(0 12 ? * SUN,SAT *)"),
        ("0 0 1 jan,jul *", "cron(0 0 1 1,7 ? *)"),
        ("0 0 L * *", "cron(0 0 L * ? *)"),
        ("30 6 * * sun#2", "cron(30 6 ? * 1#2 *)"),
        ("@daily", "cron(0 0 * * ? *)"),
        ("@weekly", "cron(0 0 ? * SUN *)"),
        ("5 4 * * mon-fri", "cron(5 4 ? * MON-FRI *)"),
    ],
)
def test_cron_becomes_eventbridge_cron_with_the_question_mark_rule(cron: str, expected: str) -> None:
    from flowyml_aws.aws_cron import to_eventbridge

    assert to_eventbridge(cron) == expected


def test_a_cron_eventbridge_cannot_say_is_refused_before_anything_exists(fake, batch_orch) -> None:
    with pytest.raises(ConfigError, match=r"both a day of month and a day of week.*keep one of them"):
        batch_orch.schedule(diamond, cron="0 0 1 * 1", name="nightly")
    with pytest.raises(ConfigError, match="invalid cron expression '0 3 \\* \\*'"):
        batch_orch.schedule(diamond, cron="0 3 * *", name="nightly")
    assert scheduler(fake).list_schedules()["Schedules"] == []


# -- Batch -----------------------------------------------------------------------------------
def test_a_batch_schedule_is_an_eventbridge_schedule_submitting_a_launcher(fake, batch_orch, artifact_root) -> None:
    info = batch_orch.schedule(diamond, cron="*/15 9-17 * * 1-5", name="nightly", timezone="Europe/Paris")
    schedule = scheduler(fake).get_schedule(Name="nightly", GroupName="flowyml")
    assert schedule["ScheduleExpression"] == "cron(0,15,30,45 9-17 ? * MON-FRI *)"
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Paris" and schedule["State"] == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:batch:submitJob" and target["RoleArn"] == ROLE
    assert "testing-very-secret" not in target["Input"]  # the launcher uses its job's role, never our keys
    request = json.loads(target["Input"])
    assert request["JobName"] == "flowyml-nightly-fire" and request["JobQueue"] == "flowyml-queue"
    assert request["JobDefinition"] == "flowyml-step:1" and request["PropagateTags"] is True
    command = request["ContainerOverrides"]["Command"]
    assert command == [
        "python",
        "-m",
        "flowyml_aws.fire",
        "--job",
        f"{artifact_root}/runs/nightly/job.json",
        "--schedule",
        "nightly",
        "--fire-time",
        "<aws.scheduler.scheduled-time>",
    ]
    env = {e["Name"]: e["Value"] for e in request["ContainerOverrides"]["Environment"]}
    launcher_config = json.loads(env["FLOWYML_AWS_BATCH_CONFIG"])
    assert launcher_config["job_queue"] == "flowyml-queue" and launcher_config["job_definition"] == "flowyml-step:1"
    assert not {"aws_secret_access_key", "aws_access_key_id", "scheduler_role_arn"} & set(launcher_config)
    assert env["AWS_REGION"] == "us-east-1" and json.loads(env["FLOWYML_STORE_SETTINGS"])["region"] == "us-east-1"
    assert request["Tags"]["flowyml:schedule"] == "nightly" and request["RetryStrategy"] == {"Attempts": 2}
    assert request["Tags"]["flowyml:fire-time"] == "<aws.scheduler.scheduled-time>"

    assert info.name == "nightly" and info.backend == "aws_batch" and info.native_id == schedule["Arn"]
    assert info.cron == "*/15 9-17 * * 1-5" and info.timezone == "Europe/Paris" and info.pipeline_name == "aws-diamond"
    upcoming = info.next_fire_time.astimezone(dt.timezone(dt.timedelta(hours=1)))  # Paris in winter
    assert upcoming.weekday() < 5 and 9 <= upcoming.hour <= 17 and upcoming.minute % 15 == 0
    assert not info.paused and info.last_run_id is None

    batch_orch.schedule(diamond, cron="30 4 * * *", name="nightly")  # the same name replaces it
    again = scheduler(fake).get_schedule(Name="nightly", GroupName="flowyml")
    assert again["ScheduleExpression"] == "cron(30 4 * * ? *)" and again["ScheduleExpressionTimezone"] == "UTC"
    assert [i.name for i in batch_orch.list_schedules()] == ["nightly"]


def test_pause_resume_delete_and_unknown_names(fake, batch_orch) -> None:
    batch_orch.schedule(diamond, cron="*/5 * * * *", name="often")
    paused = batch_orch.pause_schedule("often")
    assert paused.paused and paused.next_fire_time is None
    stored = scheduler(fake).get_schedule(Name="often", GroupName="flowyml")
    assert (
        stored["State"] == "DISABLED"
        and stored["ScheduleExpression"] == "cron(0,5,10,15,20,25,30,35,40,45,50,55 * * * ? *)"
    )
    assert json.loads(stored["Target"]["Input"])["JobName"] == "flowyml-often-fire"  # the update kept the target
    assert batch_orch.pause_schedule("often").paused
    resumed = batch_orch.resume_schedule("often")
    assert not resumed.paused and resumed.next_fire_time is not None
    assert scheduler(fake).get_schedule(Name="often", GroupName="flowyml")["State"] == "ENABLED"
    with pytest.raises(ScheduleNotFoundError, match="no aws_batch schedule 'other' in EventBridge Scheduler group"):
        batch_orch.pause_schedule("other")
    assert batch_orch.delete_schedule("often") is True
    assert scheduler(fake).list_schedules(GroupName="flowyml")["Schedules"] == []
    assert batch_orch.delete_schedule("often") is False and batch_orch.list_schedules() == []
    later = batch_orch.schedule(diamond, cron="0 * * * *", name="later", paused=True)
    assert later.paused and scheduler(fake).get_schedule(Name="later", GroupName="flowyml")["State"] == "DISABLED"


def test_throttling_is_retried_and_a_lost_create_answer_leaves_one_schedule(fake, batch_orch) -> None:
    from tests.aws.fault_proxy import Reply, error_reply

    create = "POST:/schedules/nightly"
    lost = {"n": 1}

    def lose_first_answer(req, forward) -> Reply:
        reply = forward()
        if lost["n"]:
            lost["n"] -= 1
            return error_reply(req, 500, "InternalServerException", "the answer was lost after the create happened")
        return reply

    fake.proxy.add_rule(create, lose_first_answer)
    fake.proxy.fail(["GET:/schedule-groups/flowyml", "GET:/schedules"], 2, status=429, code="ThrottlingException")
    info = batch_orch.schedule(diamond, cron="0 3 * * *", name="nightly")
    assert info.name == "nightly" and len(fake.proxy.sent(create)) == 2  # the retry met the schedule it had made
    assert [s["Name"] for s in scheduler(fake).list_schedules(GroupName="flowyml")["Schedules"]] == ["nightly"]
    assert [i.name for i in batch_orch.list_schedules()] == ["nightly"]
    assert any(c.injected for c in fake.proxy.calls if c.status == 429)


def test_a_missing_or_malformed_scheduler_role_names_the_field_and_the_fix(
    fake, batch_config, artifact_root, store_settings
) -> None:
    from flowyml.stacks.aws import AWSBatchOrchestrator

    for role, found in ((None, "found nothing"), ("flowyml-scheduler", "found 'flowyml-scheduler'")):
        orch = AWSBatchOrchestrator(
            job_queue=batch_config.job_queue,
            job_definition=batch_config.job_definition,
            endpoint_url=batch_config.endpoint_url,
            scheduler_role_arn=role,
            artifact_store=artifact_root,
            store_settings=store_settings,
        )
        with pytest.raises(ConfigFieldError) as caught:
            orch.schedule(diamond, cron="0 3 * * *", name="nightly")
        text = str(caught.value)
        assert text.startswith("scheduler_role_arn: ") and found in text
        assert "flowyml.yaml" in text and "batch:SubmitJob" in text
    assert scheduler(fake).list_schedules()["Schedules"] == []


def test_each_batch_firing_is_a_normal_run_named_by_its_fire_time(fake, batch_orch) -> None:
    batch_orch.schedule(diamond, cron="0 3 * * *", name="nightly", timezone="Europe/Paris", context={"n": 5})
    launchers = [play(fake, "nightly", FIRST)["jobId"], play(fake, "nightly", FIRST + dt.timedelta(days=1))["jobId"]]
    for job_id in launchers:
        fake._run_batch(job_id)  # the launcher job: it submits the firing's run
    redelivered = play(fake, "nightly", FIRST)["jobId"]  # EventBridge delivering the first firing again
    fake._run_batch(redelivered)
    assert {fake.batch_state[j]["status"] for j in [*launchers, redelivered]} == {"SUCCEEDED"}

    listed = batch_orch.list_schedules()  # records the firings in the run registry
    assert listed[0].last_run_id == "nightly-20261202-020000" and listed[0].message is None  # the newest launcher
    assert _scheduled_runs("nightly") == ["nightly-20261202-020000", "nightly-20261203-020000"]
    for run_id in _scheduled_runs("nightly"):
        handle = RunRegistry().get(run_id).handle
        assert handle.metadata["schedule"] == "nightly" and len(handle.units) == 4
        run_batch_in_order(fake, handle)
        report = batch_orch.get_status_report(run_id)
        assert report.status is S.COMPLETED and set(report.units.values()) == {S.COMPLETED}, report
        assert batch_orch.load_output(handle, "result") == DIAMOND_RESULT
        assert batch_orch._run_spec(handle)[1].labels["flowyml-schedule"] == "nightly"
    units = [c.json()["jobName"] for c in fake.proxy.sent("SubmitJob", injected=False)]
    assert len([n for n in units if n.startswith("flowyml-nightly-20261202-020000-")]) == 4  # delivered twice, run once
    assert units.count("flowyml-nightly-fire") == 3
    assert len(batch_orch.list_schedules()) == 1 and len(_scheduled_runs("nightly")) == 2  # listing again adds nothing


def test_a_launcher_that_cannot_submit_says_so_in_the_schedule(fake, batch_orch) -> None:
    batch_orch.schedule(diamond, cron="0 3 * * *", name="nightly")
    job_id = play(fake, "nightly", FIRST)["jobId"]
    with fake.faults("submit", 50, status=400, code="ClientException"):  # e.g. the job role lacks batch:SubmitJob
        fake._run_batch(job_id)
    (info,) = batch_orch.list_schedules()
    assert fake.batch_state[job_id]["status"] == "FAILED"
    assert info.last_run_id == "nightly-20261202-020000" and "could not submit its run" in info.message
    assert job_id in info.message and _scheduled_runs("nightly") == []


# -- SageMaker -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"), [("nightly", "nightly-scheduled"), ("v2_nightly.x", "v2-nightly-x-scheduled")]
)
def test_execution_display_names_keep_to_sagemakers_alphabet(name: str, expected: str) -> None:
    import re

    from flowyml_aws.sagemaker_schedules import display_name

    assert display_name(name) == expected and re.match(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,81}$", display_name("x" * 64))


def test_each_sagemaker_firing_is_one_execution_of_the_schedule_pipeline(fake, sm_orch) -> None:
    from flowyml_aws.sagemaker_schedules import pipeline_name

    info = sm_orch.schedule(diamond, cron="0 3 * * *", name="nightly", timezone="Europe/Paris", context={"n": 5})
    schedule = scheduler(fake).get_schedule(Name="nightly", GroupName="flowyml")
    target = schedule["Target"]
    assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:sagemaker:startPipelineExecution"
    request = json.loads(target["Input"])
    assert request["PipelineName"] == pipeline_name(sm_orch.config, "nightly")
    assert request["PipelineParameters"] == [{"Name": "FireTime", "Value": "<aws.scheduler.scheduled-time>"}]
    assert request["PipelineExecutionDisplayName"] == "nightly-scheduled"
    definition = fake.pipelines[request["PipelineName"]]
    assert definition["Parameters"] == [{"Name": "FireTime", "Type": "String"}] and len(definition["Steps"]) == 4
    for step in definition["Steps"]:
        entrypoint = step["Arguments"]["AlgorithmSpecification"]["ContainerEntrypoint"]
        assert entrypoint[-4:] == ["--schedule", "nightly", "--fire-time", {"Get": "Parameters.FireTime"}]
    assert info.backend == "sagemaker" and info.cron == "0 3 * * *" and info.timezone == "Europe/Paris"

    first = play(fake, "nightly", FIRST)["PipelineExecutionArn"]
    assert play(fake, "nightly", FIRST)["PipelineExecutionArn"] == first  # a re-delivery starts no second execution
    second = play(fake, "nightly", FIRST + dt.timedelta(days=1))["PipelineExecutionArn"]
    for arn in (first, second):
        fake._run_execution(arn)

    listed = sm_orch.list_schedules()
    assert listed[0].last_run_id in ("nightly-20261202-020000", "nightly-20261203-020000")
    assert _scheduled_runs("nightly") == ["nightly-20261202-020000", "nightly-20261203-020000"]
    for run_id, arn in zip(_scheduled_runs("nightly"), (first, second), strict=True):
        handle = RunRegistry().get(run_id).handle
        assert handle.job_id == arn and handle.metadata["schedule"] == "nightly"
        report = sm_orch.get_status_report(run_id)
        assert report.status is S.COMPLETED and set(report.units.values()) == {S.COMPLETED}, report
        assert sm_orch.load_output(handle, "result") == DIAMOND_RESULT
    assert len(sm_orch.list_schedules()) == 1 and len(_scheduled_runs("nightly")) == 2


def test_batch_and_sagemaker_schedules_share_the_group_without_mixing(fake, batch_orch, sm_orch) -> None:
    batch_orch.schedule(diamond, cron="0 3 * * *", name="batch-nightly")
    sm_orch.schedule(diamond, cron="0 4 * * *", name="sm-nightly")
    assert [i.name for i in batch_orch.list_schedules()] == ["batch-nightly"]
    assert [i.name for i in sm_orch.list_schedules()] == ["sm-nightly"]
    with pytest.raises(ScheduleNotFoundError):
        sm_orch.pause_schedule("batch-nightly")
    assert sm_orch.delete_schedule("batch-nightly") is False


@pytest.mark.usefixtures("secrets")
def test_a_firing_runs_with_the_secrets_batch_injects(fake, batch_config, artifact_root, store_settings) -> None:
    """The revision with the run's secrets is registered when the schedule is created; the launcher reuses it."""
    import hashlib

    from flowyml.core.resources import DockerConfig
    from flowyml.stacks.aws import AWSBatchOrchestrator
    from tests.aws.test_secrets_aws import EXECUTION_ROLE, SECRET, UNREACHABLE, _definitions, _register
    from tests.core.secrets_pipelines import token

    definition = _register(fake, "flowyml-secrets", executionRoleArn=EXECUTION_ROLE)
    orch = AWSBatchOrchestrator(
        job_queue=batch_config.job_queue,
        job_definition=definition,
        endpoint_url=batch_config.endpoint_url,
        scheduler_role_arn=ROLE,
        artifact_store=artifact_root,
        store_settings=store_settings,
        docker_config=DockerConfig(secrets={"API_TOKEN": "aws-sm://prod/api-token"}),
    )
    orch.schedule(token, cron="0 3 * * *", name="nightly")
    _original, revision = _definitions(fake)
    assert revision["containerProperties"]["secrets"][0]["name"] == "API_TOKEN"
    request = json.loads(scheduler(fake).get_schedule(Name="nightly", GroupName="flowyml")["Target"]["Input"])
    assert request["JobDefinition"] == f"flowyml-secrets:{revision['revision']}"
    assert SECRET not in json.dumps(request)

    fake._run_batch(play(fake, "nightly", FIRST)["jobId"])
    assert len(fake.proxy.sent("RegisterJobDefinition")) == 1  # the launcher registered nothing
    orch.list_schedules()
    assert _scheduled_runs("nightly") == ["nightly-20261202-020000"]
    handle = RunRegistry().get("nightly-20261202-020000").handle
    assert {fake.batch_requests[j]["jobDefinition"] for j in handle.units.values()} == {request["JobDefinition"]}
    fake.job_env.update(UNREACHABLE)  # the run's job reads nothing itself: Batch injects the secret
    run_batch_in_order(fake, handle)
    assert orch.get_status_report(handle.run_id).status is S.COMPLETED
    assert orch.load_output(handle, "digest") == hashlib.sha256(SECRET.encode()).hexdigest()
