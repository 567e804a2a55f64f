"""The README's ``aws-prod`` stack as written (issue 12 item 2), end to end through the CLI: its region
(``eu-west-1``, not the fake's default) is set on the orchestrator only, and reaches every Batch job and
the ``s3://`` store, with no region in the submitting environment nor in the containers' (as on EC2).

Only ``endpoint_url`` is added to the README's text, to reach moto; moto gets the README's queue, job
definition and bucket in eu-west-1. The fake runs each submitted job as a local process."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest
import yaml

import flowyml
from flowyml.cli.main import main
from flowyml.core.status import ExecutionStatus as S
from tests.aws.fake_aws import REGION

pytestmark = pytest.mark.aws
REPO = Path(__file__).resolve().parents[2]
PIPELINES = Path(__file__).parent / "aws_pipelines.py"


def readme_stack() -> dict:
    """The ``aws-prod`` stack of README.md's ``flowyml.yaml`` block, parsed from the README itself."""
    blocks = re.findall(r"```yaml\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    (stack,) = [yaml.safe_load(b)["stacks"]["aws-prod"] for b in blocks if "aws-prod:" in b]
    return stack


def _client(service: str, endpoint: str, region: str):
    return boto3.client(service, endpoint_url=endpoint, region_name=region)


def _setup(moto: str, stack: dict, region: str) -> None:
    """The README's queue, job definition (EC2) and bucket, in the README's region."""
    iam, batch = _client("iam", moto, region), _client("batch", moto, region)
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "batch.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    role = iam.create_role(RoleName="readme-batch", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    ce = batch.create_compute_environment(
        computeEnvironmentName="readme-ce", type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    orch = stack["orchestrator"]
    batch.create_job_queue(
        jobQueueName=orch["job_queue"],
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}],
    )
    batch.register_job_definition(
        jobDefinitionName=orch["job_definition"],
        type="container",
        containerProperties={
            "image": "public.ecr.aws/docker/library/python:3.11",
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
        },
    )
    bucket = stack["artifact_store"]["uri"].removeprefix("s3://").split("/", 1)[0]
    _client("s3", moto, region).create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})


def test_the_readme_aws_prod_stack_runs_as_written(
    fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = readme_stack()
    region = stack["orchestrator"]["region"]
    assert region != REGION, "the test must prove the README's region, not the fake's default"
    assert "region" not in (stack["artifact_store"].get("settings") or {})
    _setup(fake.moto, stack, region)
    for attr in ("batch", "logs"):  # the fake reads and writes the README region's jobs and logs
        setattr(fake, attr, _client(attr, fake.moto, region))
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # nothing in the submitting environment either

    stack["orchestrator"]["endpoint_url"] = fake.proxy.endpoint  # the one addition: reach the fake
    stack["artifact_store"].setdefault("settings", {})["endpoint_url"] = fake.moto
    config = tmp_path / "flowyml.yaml"
    config.write_text(yaml.safe_dump({"stacks": {"aws-prod": stack}}))
    args = ["--config", str(config)]
    assert main([*args, "run", f"{PIPELINES}:diamond", "--stack", "aws-prod", "--detach", "--run-id", "readme-1"]) == 0
    assert capsys.readouterr().out.strip() == "readme-1"

    submitted = [c.json() for c in fake.proxy.sent("SubmitJob", injected=False)]
    assert len(submitted) == 4
    (revision,) = [c.json() for c in fake.proxy.sent("RegisterJobDefinition", injected=False)]
    assert revision["containerProperties"]["image"] == stack["docker"]["image"]  # a revision with the image
    for body in submitted:
        env = {e["name"]: e["value"] for e in body["containerOverrides"]["environment"]}
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == region
        assert json.loads(env["FLOWYML_STORE_SETTINGS"])["region"] == region  # the store, in the job
        assert body["jobDefinition"] == f"{stack['orchestrator']['job_definition']}:2"
    resources = {
        tuple(sorted((r["type"], r["value"]) for r in b["containerOverrides"]["resourceRequirements"]))
        for b in submitted
    }
    assert (("MEMORY", "16384"), ("VCPU", "4")) in resources  # the stack's resources, for steps that set none

    run = flowyml.attach("readme-1")
    fake.execute(run.handle)  # containers inherit no AWS region: only what was sent
    assert run.wait_for_completion(timeout=90, poll_interval=0.1) is S.COMPLETED
    assert run.get_output("result") == 2 * 10 + 30
    keys = _client("s3", fake.moto, region).list_objects_v2(Bucket="my-bucket", Prefix="flowyml/runs/readme-1/")
    assert keys.get("KeyCount", 0) > 1  # the jobs wrote their outputs to the README's bucket
