"""AWS secrets on moto: ``aws-sm://`` / ``aws-ssm://`` never sent as a value; on Batch, injected by Batch
itself from the job definition's ``secrets`` (the fake's executor reads moto's Secrets Manager / SSM
as Batch's agent does); the step-runner only masks them."""

from __future__ import annotations

import hashlib
import json

import pytest

from flowyml.core.errors import ConfigError
from flowyml.core.resources import DockerConfig
from flowyml.core.status import ExecutionStatus as S
from flowyml.orchestrators.registry import RunRegistry
from flowyml.secrets import SecretError, resolve
from tests.aws.aws_pipelines import diamond
from tests.aws.fake_aws import direct_client
from tests.core.secrets_pipelines import token

pytestmark = pytest.mark.aws
SECRET = "sm-QUUX-4e1d-value"
PASSWORD = "pw-CORGE-9"
PARAM = "ssm-GRAULT-2"
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
#: what a job process sees instead of Secrets Manager / SSM: a closed port (only Batch's agent can read them)
UNREACHABLE = {"AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:9", "AWS_ENDPOINT_URL_SSM": "http://127.0.0.1:9"}


def _register(fake, name: str, **props) -> str:
    direct_client("batch", fake.moto).register_job_definition(
        jobDefinitionName=name,
        type="container",
        containerProperties={
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/flowyml:1",
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
            **props,
        },
    )
    return name


def _orch(batch_config, artifact_root, store_settings, job_definition: str):
    from flowyml.stacks.aws import AWSBatchOrchestrator

    return AWSBatchOrchestrator(
        job_queue=batch_config.job_queue,
        job_definition=job_definition,
        endpoint_url=batch_config.endpoint_url,
        artifact_store=artifact_root,
        store_settings=store_settings,
    )


@pytest.fixture
def orch(fake, batch_config, artifact_root, store_settings):
    """``aws_batch`` with a job definition that has an execution role (Batch injects secrets with it)."""
    definition = _register(fake, "flowyml-secrets", executionRoleArn=EXECUTION_ROLE)
    return _orch(batch_config, artifact_root, store_settings, definition)


@pytest.fixture
def secrets(fake, monkeypatch: pytest.MonkeyPatch):
    """A Secrets Manager secret (plain and JSON) and an SSM parameter in moto; boto3 pointed at it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", fake.moto)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    sm = direct_client("secretsmanager", fake.moto)
    sm.create_secret(Name="prod/api-token", SecretString=SECRET)
    sm.create_secret(Name="prod/db", SecretString=json.dumps({"user": "app", "password": PASSWORD}))
    direct_client("ssm", fake.moto).put_parameter(Name="/prod/param", Value=PARAM, Type="SecureString")
    return sm


def _definitions(fake, name: str = "flowyml-secrets") -> list[dict]:
    docs = fake.batch.describe_job_definitions(jobDefinitionName=name, status="ACTIVE")["jobDefinitions"]
    return sorted(docs, key=lambda d: d["revision"])


def _submitted(fake) -> list[dict]:
    return [c.json() for c in fake.proxy.sent("SubmitJob", injected=False)]


def _nothing_leaked(fake, orch, run_id: str, artifact_root: str, *values: str) -> None:
    """No value in what was sent to Batch, the job definitions, the artifact store, the registry or details."""
    sent = fake.proxy.sent("SubmitJob") + fake.proxy.sent("RegisterJobDefinition")
    texts = {f"{c.action} request {i}": c.body.decode(errors="replace") for i, c in enumerate(sent)}
    texts["job definitions"] = json.dumps(fake.batch.describe_job_definitions()["jobDefinitions"], default=str)
    texts["run registry"] = json.dumps(RunRegistry().get(run_id).handle.to_dict(), default=str)
    texts["details"] = json.dumps(orch.get_run_details(run_id), default=str)
    bucket, _, prefix = artifact_root.removeprefix("s3://").partition("/")
    s3 = direct_client("s3", fake.moto)
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        texts[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode(errors="replace")
    for value in values:
        assert not [where for where, text in texts.items() if value in text], f"{value} was written there"


def test_the_resolvers_read_secrets_manager_and_ssm(secrets) -> None:
    assert resolve("aws-sm://prod/api-token") == SECRET
    arn = secrets.describe_secret(SecretId="prod/db")["ARN"]
    assert resolve(f"aws-sm://{arn}#password") == PASSWORD
    assert resolve("aws-ssm:///prod/param") == PARAM
    with pytest.raises(SecretError, match=r"aws-sm://prod/missing: .*ResourceNotFoundException"):
        resolve("aws-sm://prod/missing")
    with pytest.raises(SecretError, match="not a JSON object with the key 'nope'"):
        resolve("aws-sm://prod/db#nope")


@pytest.mark.parametrize(
    ("ref", "value", "value_from"),
    [
        ("aws-sm://prod/api-token", SECRET, "{arn:prod/api-token}"),
        ("aws-sm://{arn:prod/db}#password", PASSWORD, "{arn:prod/db}:password::"),
        ("aws-ssm:///prod/param", PARAM, "/prod/param"),
    ],
    ids=["sm-name", "sm-arn-json-key", "ssm"],
)
def test_batch_injects_the_secret_from_the_job_definition(
    fake, orch, secrets, artifact_root, ref, value, value_from
) -> None:
    arns = {f"{{arn:{n}}}": secrets.describe_secret(SecretId=n)["ARN"] for n in ("prod/api-token", "prod/db")}
    for placeholder, arn in arns.items():
        ref, value_from = ref.replace(placeholder, arn), value_from.replace(placeholder, arn)
    docker = DockerConfig(env_vars={"PLAIN": "visible"}, secrets={"API_TOKEN": ref})
    sub = orch.run_pipeline(token, run_id="native-e2e", docker_config=docker)

    original, revision = _definitions(fake)  # one revision registered, with the reference as valueFrom
    assert revision["containerProperties"]["secrets"] == [{"name": "API_TOKEN", "valueFrom": value_from}]
    assert revision["containerProperties"]["executionRoleArn"] == EXECUTION_ROLE
    assert revision["tags"]["flowyml:derived-from"] == f"flowyml-secrets:{original['revision']}"
    sent = _submitted(fake)
    assert sent and {body["jobDefinition"] for body in sent} == {f"flowyml-secrets:{revision['revision']}"}
    env = {e["name"]: e["value"] for e in sent[0]["containerOverrides"]["environment"]}
    assert env["FLOWYML_NATIVE_SECRETS"] == "API_TOKEN" and env["PLAIN"] == "visible" and "API_TOKEN" not in env

    fake.job_env.update(UNREACHABLE)  # the job itself cannot read the secret store: only Batch's injection works
    fake.execute(sub.handle)
    assert sub.wait_for_completion(timeout=90, poll_interval=0.1) is S.COMPLETED
    assert sub.get_output("digest") == hashlib.sha256(value.encode()).hexdigest()
    logs = [r.message for r in sub.logs()]
    assert "the token is ***" in logs and not any(value in m for m in logs)
    _nothing_leaked(fake, orch, "native-e2e", artifact_root, value)


def test_the_step_runner_never_resolves_what_batch_was_to_inject(fake, orch, secrets) -> None:
    fake.inject_secrets = False  # Batch did not set it: the job has access to Secrets Manager, and must not use it
    docker = DockerConfig(secrets={"API_TOKEN": "aws-sm://prod/api-token"})
    sub = orch.run_pipeline(token, run_id="native-missing", docker_config=docker)
    fake.execute(sub.handle)
    assert sub.wait_for_completion(timeout=90, poll_interval=0.1, raise_on_failure=False) is S.FAILED
    text = " ".join(r.message for r in sub.logs())
    assert "the platform was to inject API_TOKEN (aws-sm://prod/api-token) (FLOWYML_NATIVE_SECRETS)" in text
    assert SECRET not in text


def test_a_job_definition_revision_per_secret_set_reused_when_the_same(fake, orch, secrets) -> None:
    first = DockerConfig(secrets={"API_TOKEN": "aws-sm://prod/api-token"})
    orch.run_pipeline(token, run_id="same-1", docker_config=first)
    orch.run_pipeline(token, run_id="same-2", docker_config=first)
    assert len(fake.proxy.sent("RegisterJobDefinition")) == 1  # same content: the revision is reused
    other = DockerConfig(secrets={"API_TOKEN": "aws-ssm:///prod/param"})
    orch.run_pipeline(token, run_id="other-1", docker_config=other)
    assert len(fake.proxy.sent("RegisterJobDefinition")) == 2
    orch.run_pipeline(token, run_id="plain-1")  # no secrets: the user's own revision, not the newest (derived) one
    orch.run_pipeline(token, run_id="same-3", docker_config=first)  # derived from the same base: reused again
    assert len(fake.proxy.sent("RegisterJobDefinition")) == 2
    used = {body["jobName"].split("-")[1]: body["jobDefinition"] for body in _submitted(fake)}
    base, with_token, with_param = (f"flowyml-secrets:{d['revision']}" for d in _definitions(fake))
    assert used == {"same": with_token, "other": with_param, "plain": base}
    assert [s["name"] for d in _definitions(fake) for s in d["containerProperties"]["secrets"]] == ["API_TOKEN"] * 2


def test_the_job_definition_keeps_its_own_secrets(fake, batch_config, artifact_root, store_settings, secrets) -> None:
    own = {"name": "DB_URL", "valueFrom": "/prod/db-url"}
    definition = _register(fake, "flowyml-own", executionRoleArn=EXECUTION_ROLE, secrets=[own])
    orch = _orch(batch_config, artifact_root, store_settings, definition)
    orch.run_pipeline(token, run_id="own-1", docker_config=DockerConfig(secrets={"API_TOKEN": "aws-ssm:///prod/param"}))
    secrets_of = _definitions(fake, "flowyml-own")[-1]["containerProperties"]["secrets"]
    assert secrets_of == [{"name": "API_TOKEN", "valueFrom": "/prod/param"}, own]


def test_no_execution_role_is_refused_before_anything_is_created(
    fake, batch_config, artifact_root, store_settings, secrets
) -> None:
    orch = _orch(batch_config, artifact_root, store_settings, batch_config.job_definition)  # no executionRoleArn
    with pytest.raises(ConfigError, match=r"job definition flowyml-step:1 has no executionRoleArn.*API_TOKEN"):
        orch.run_pipeline(token, run_id="no-role", docker_config=DockerConfig(secrets={"API_TOKEN": "aws-ssm:///p"}))
    assert not _submitted(fake) and not fake.proxy.sent("RegisterJobDefinition")


def test_a_missing_secret_is_refused_at_submit(fake, orch, secrets) -> None:
    with pytest.raises(ConfigError, match=r"docker.env_vars.API_TOKEN: Secrets Manager has no secret 'prod/gone'"):
        orch.run_pipeline(token, run_id="gone", docker_config=DockerConfig(secrets={"API_TOKEN": "aws-sm://prod/gone"}))
    assert not _submitted(fake) and not fake.proxy.sent("RegisterJobDefinition")


def test_a_secret_batch_cannot_read_fails_the_job_with_batchs_reason(fake, orch, secrets) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/deleted-AbCdEf"  # an ARN: no check at submit
    sub = orch.run_pipeline(
        token, run_id="unreadable", docker_config=DockerConfig(secrets={"API_TOKEN": f"aws-sm://{arn}"})
    )
    fake.execute(sub.handle)
    assert sub.wait_for_completion(timeout=90, poll_interval=0.1, raise_on_failure=False) is S.FAILED
    assert "ResourceInitializationError: unable to pull secrets" in (orch.get_status_report(sub.run_id).message or "")


def test_a_dollar_secret_is_refused_for_batch_naming_secrets_manager(fake, orch, monkeypatch) -> None:
    docker = DockerConfig(secrets={"API_TOKEN": "env://MY_SECRET"})
    with pytest.raises(ConfigError) as info:
        orch.run_pipeline(token, run_id="sm-refused", docker_config=docker)
    assert 'write `API_TOKEN: {secret: "aws-sm://..."} or {secret: "aws-ssm://..."}`' in str(info.value)
    assert not fake.proxy.sent("SubmitJob", injected=False)


def test_store_settings_written_with_dollar_are_stored_as_written_and_reach_the_job_resolved(
    fake, batch_config, artifact_root, store_settings, tmp_path, monkeypatch
) -> None:
    from flowyml.config.loader import load_config
    from flowyml.orchestrators.remote import RemoteOrchestrator

    monkeypatch.setenv("STORE_ENDPOINT", store_settings["endpoint_url"])
    settings = {**store_settings, "endpoint_url": "${STORE_ENDPOINT}"}
    orchestrator = {"type": "aws_batch", "job_queue": batch_config.job_queue, "endpoint_url": batch_config.endpoint_url}
    body = {"orchestrator": {**orchestrator, "job_definition": batch_config.job_definition}}
    stack = {**body, "artifact_store": {"uri": artifact_root, "settings": settings}}
    path = tmp_path / "flowyml.yaml"
    path.write_text(json.dumps({"stacks": {"batch": stack}, "default_stack": "batch"}))  # JSON is YAML
    sub = load_config(path).orchestrator("batch").run_pipeline(diamond, run_id="store-dollar")
    fake.execute(sub.handle)
    assert sub.wait_for_completion(timeout=90, poll_interval=0.1) is S.COMPLETED  # the job opened its store
    handle = RunRegistry().get("store-dollar").handle
    assert handle.metadata["store_settings"]["endpoint_url"] == "${STORE_ENDPOINT}"
    bucket, _, prefix = artifact_root.removeprefix("s3://").partition("/")
    body = direct_client("s3", fake.moto).get_object(Bucket=bucket, Key=f"{prefix}/runs/store-dollar/job.json")["Body"]
    assert json.loads(body.read())["store_settings"]["endpoint_url"] == "${STORE_ENDPOINT}"
    for request in _submitted(fake):  # the job needs the value before it can read anything: its environment has it
        env = {e["name"]: e["value"] for e in request["containerOverrides"]["environment"]}
        assert json.loads(env["FLOWYML_STORE_SETTINGS"])["endpoint_url"] == store_settings["endpoint_url"]
    attached = RemoteOrchestrator.for_handle(handle)  # re-attaching resolves the template again, here
    assert attached.store_settings["endpoint_url"] == store_settings["endpoint_url"]
    assert attached.get_run_status("store-dollar") is S.COMPLETED
