"""AWS secrets on moto: ``aws-sm://`` / ``aws-ssm://`` resolved in the job, never sent to Batch as a value."""

from __future__ import annotations

import hashlib
import json

import pytest

from flowyml.core.errors import ConfigError
from flowyml.core.resources import DockerConfig
from flowyml.core.status import ExecutionStatus as S
from flowyml.orchestrators.registry import RunRegistry
from flowyml.secrets import SecretError, resolve
from tests.aws.fake_aws import direct_client
from tests.core.secrets_pipelines import token

pytestmark = pytest.mark.aws
SECRET = "sm-QUUX-4e1d-value"


@pytest.fixture
def orch(batch_config, artifact_root, store_settings):
    from flowyml.stacks.aws import AWSBatchOrchestrator

    return AWSBatchOrchestrator(
        job_queue=batch_config.job_queue,
        job_definition=batch_config.job_definition,
        endpoint_url=batch_config.endpoint_url,
        artifact_store=artifact_root,
        store_settings=store_settings,
    )


@pytest.fixture
def secrets(fake, monkeypatch: pytest.MonkeyPatch):
    """A Secrets Manager secret (plain and JSON) and an SSM parameter in moto; boto3 pointed at it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", fake.moto)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    sm = direct_client("secretsmanager", fake.moto)
    sm.create_secret(Name="prod/api-token", SecretString=SECRET)
    sm.create_secret(Name="prod/db", SecretString=json.dumps({"user": "app", "password": "pw-CORGE-9"}))
    direct_client("ssm", fake.moto).put_parameter(Name="/prod/param", Value="ssm-GRAULT-2", Type="SecureString")
    return sm


def test_the_resolvers_read_secrets_manager_and_ssm(secrets) -> None:
    assert resolve("aws-sm://prod/api-token") == SECRET
    arn = secrets.describe_secret(SecretId="prod/db")["ARN"]
    assert resolve(f"aws-sm://{arn}#password") == "pw-CORGE-9"
    assert resolve("aws-ssm:///prod/param") == "ssm-GRAULT-2"
    with pytest.raises(SecretError, match=r"aws-sm://prod/missing: .*ResourceNotFoundException"):
        resolve("aws-sm://prod/missing")
    with pytest.raises(SecretError, match="not a JSON object with the key 'nope'"):
        resolve("aws-sm://prod/db#nope")


def test_batch_gets_the_reference_and_the_job_the_value(fake, orch, secrets, artifact_root) -> None:
    docker = DockerConfig(env_vars={"PLAIN": "visible"}, secrets={"API_TOKEN": "aws-sm://prod/api-token"})
    sub = orch.run_pipeline(token, run_id="sm-e2e", docker_config=docker)
    sent = [c.json() for c in fake.proxy.sent("SubmitJob", injected=False)]
    assert sent and all(SECRET not in json.dumps(body) for body in sent)  # no value in the containerOverrides
    env = {e["name"]: e["value"] for e in sent[0]["containerOverrides"]["environment"]}
    assert "API_TOKEN" not in env and env["PLAIN"] == "visible"
    fake.execute(sub.handle)  # the job resolves aws-sm:// with its own (moto) credentials
    assert sub.wait_for_completion(timeout=90, poll_interval=0.1) is S.COMPLETED
    assert sub.get_output("digest") == hashlib.sha256(SECRET.encode()).hexdigest()
    logs = [r.message for r in sub.logs()]
    assert "the token is ***" in logs and not any(SECRET in m for m in logs)
    bucket, _, prefix = artifact_root.removeprefix("s3://").partition("/")
    s3 = direct_client("s3", fake.moto)
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        assert SECRET.encode() not in s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read(), obj["Key"]
    assert SECRET not in json.dumps(RunRegistry().get("sm-e2e").handle.to_dict())
    assert SECRET not in json.dumps(orch.get_run_details("sm-e2e"), default=str)


def test_a_dollar_secret_is_refused_for_batch_naming_secrets_manager(fake, orch, monkeypatch) -> None:
    docker = DockerConfig(secrets={"API_TOKEN": "env://MY_SECRET"})
    with pytest.raises(ConfigError) as info:
        orch.run_pipeline(token, run_id="sm-refused", docker_config=docker)
    assert 'write `API_TOKEN: {secret: "aws-sm://..."} or {secret: "aws-ssm://..."}`' in str(info.value)
    assert not fake.proxy.sent("SubmitJob", injected=False)
