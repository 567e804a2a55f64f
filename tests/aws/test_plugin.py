"""Registration, lazy imports, the seed constructors and the transient-error predicate."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flowyml.core.errors import ConfigError
from flowyml.core.status import ExecutionStatus as S
from flowyml.plugins.manager import get_plugin_manager
from flowyml_aws import states
from tests.cli_process import cli_env, run_cli

pytestmark = pytest.mark.aws


def test_registering_the_plugin_imports_no_boto3() -> None:
    code = (
        "import sys, json, flowyml; from flowyml.plugins.manager import get_plugin_manager; "
        "pm = get_plugin_manager(); "
        "print(json.dumps({'backends': sorted(pm.backends), 'stores': sorted(pm.stores), "
        "'sdk': sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore'))}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"aws_batch", "sagemaker"} <= set(doc["backends"]) and "s3" in doc["stores"]
    assert doc["sdk"] == []


def test_flowyml_plugins_lists_both_backends() -> None:
    out = run_cli("plugins", timeout=60)
    if out.returncode != 0:
        out = subprocess.run(["flowyml", "plugins"], capture_output=True, text=True, timeout=60)
    assert "aws_batch" in out.stdout and "sagemaker" in out.stdout, out.stdout + out.stderr


def test_backend_info_and_state_tables() -> None:
    pm = get_plugin_manager()
    batch, sm = pm.backend("aws_batch"), pm.backend("sagemaker")
    assert set(batch.native_states) == {
        "SUBMITTED",
        "PENDING",
        "RUNNABLE",
        "STARTING",
        "RUNNING",
        "SUCCEEDED",
        "FAILED",
    }
    assert {"InProgress", "Completed", "Failed", "Stopping", "Stopped"} <= set(sm.native_states)
    assert batch.extra == sm.extra == "aws"
    assert states.sagemaker_unit_status("InProgress", "Unheard") is S.RUNNING
    assert states.sagemaker_unit_status("Stopped", "MaxRuntimeExceeded") is S.TIMED_OUT


def test_seed_constructors_and_secrets_stay_out_of_metadata() -> None:
    from flowyml.stacks.aws import AWSBatchOrchestrator, SageMakerOrchestrator

    batch = AWSBatchOrchestrator(
        job_queue="q",
        job_definition="d",
        parameters={"a": "1"},
        aws_secret_access_key="s3cr3t",
        aws_access_key_id="AKIA",
    )
    assert (batch.name, batch.region, batch.job_queue, batch.job_definition) == ("aws_batch", None, "q", "d")
    assert batch.validate() and "s3cr3t" not in json.dumps(batch.to_dict())
    assert "aws_secret_access_key" not in batch.to_dict()
    sm = SageMakerOrchestrator(region="eu-west-1", role_arn="arn:aws:iam::1:role/r", output_path="s3://b/out")
    assert (sm.default_instance_type, sm.default_instance_count, sm.volume_size_gb) == ("ml.m5.xlarge", 1, 50)
    assert sm.artifact_root == "s3://b/out/flowyml"
    with pytest.raises(ConfigError, match="role_arn"):
        SageMakerOrchestrator().validate()


def test_transient_predicate() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    from flowyml_aws.client import transient

    def err(code: str, status: int, headers: dict | None = None) -> ClientError:
        return ClientError(
            {
                "Error": {"Code": code, "Message": "m"},
                "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
            },
            "Op",
        )

    assert transient(err("ThrottlingException", 400)) is True
    assert transient(err("TooManyRequestsException", 400)) is True
    assert transient(err("Whatever", 503)) is True
    assert transient(err("SlowDown", 503, {"retry-after": "7"})) == 7.0
    assert transient(err("ValidationException", 400)) is False
    assert transient(err("ClientException", 400)) is False
    assert transient(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")) is True
    assert transient(NoCredentialsError()) is False


def test_unreachable_endpoint_is_transient_never_failed(batch_config) -> None:
    import socket

    import attrs

    from flowyml.core.errors import TransientBackendError
    from flowyml.plugins.types import RunHandle

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = attrs.evolve(batch_config, endpoint_url=f"http://127.0.0.1:{port}")
    handle = RunHandle(backend="aws_batch", run_id="r", job_id="j", units={"u": "j"})
    with pytest.raises(TransientBackendError):
        get_plugin_manager().status(handle, config)


def test_the_flowyml_yaml_examples_in_the_docs_load(tmp_path) -> None:
    import re
    from pathlib import Path

    import yaml

    from flowyml.config.loader import load_config
    from flowyml_aws.config import AWSBatchConfig, SageMakerConfig

    doc = (Path(__file__).resolve().parents[2] / "docs" / "backends" / "aws.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", doc, re.S)]
    stacks = {k: v for b in blocks for k, v in b["stacks"].items()}
    path = tmp_path / "flowyml.yaml"
    path.write_text(yaml.safe_dump({"stacks": stacks}))
    config = load_config(path)
    batch = config.orchestrator("batch")
    assert isinstance(batch.config, AWSBatchConfig) and batch.config.job_queue == "flowyml-queue"
    assert batch.artifact_root == "s3://my-bucket/flowyml" and batch.validate()
    sm = config.orchestrator("sagemaker")
    assert isinstance(sm.config, SageMakerConfig) and sm.config.volume_size_gb == 50 and sm.validate()


def test_a_call_that_would_reach_real_aws_is_blocked_loudly(batch_config) -> None:
    """No endpoint_url: boto3 would go to batch.us-east-1.amazonaws.com; the egress guard refuses."""
    import attrs

    from flowyml.core.errors import TransientBackendError
    from flowyml.plugins.types import RunHandle

    config = attrs.evolve(batch_config, endpoint_url=None)
    handle = RunHandle(backend="aws_batch", run_id="r", job_id="j", units={"u": "j"})
    with pytest.raises(TransientBackendError) as info:
        get_plugin_manager().status(handle, config)
    chain, exc = [], info.value
    while exc is not None:
        chain.append(str(exc))
        exc = exc.__cause__ or exc.__context__
    assert any("egress blocked" in text for text in chain), chain


@pytest.mark.parametrize(
    ("status", "code", "says"),
    [
        (400, "AccessDeniedException", "grant the identity the permission"),
        (403, "ExpiredTokenException", "refresh them"),
        (400, "ClientException", "ClientException: injected by the test proxy"),
    ],
)
def test_the_cli_says_what_aws_refused_in_one_line_with_exit_5(
    fake, batch_config, artifact_root, store_settings, tmp_path, status: int, code: str, says: str
) -> None:
    """What AWS answers at the HTTP boundary reaches a CLI user as one line and exit 5 (docs/cli.md),
    never a botocore traceback."""
    import yaml

    stack = {
        "orchestrator": {
            "type": "aws_batch",
            "region": batch_config.region,
            "endpoint_url": batch_config.endpoint_url,
            "job_queue": batch_config.job_queue,
            "job_definition": batch_config.job_definition,
        },
        "artifact_store": {"uri": artifact_root, "settings": store_settings},
    }
    (tmp_path / "flowyml.yaml").write_text(yaml.safe_dump({"stacks": {"batch": stack}}))
    fake.proxy.fail(["SubmitJob"], 100, status=status, code=code)
    env = cli_env(tmp_path / "home", repo_on_path=True, without=["FLOWYML_CONFIG"])
    target = "tests.aws.aws_pipelines:failing_chain"
    proc = run_cli(
        "run", target, "--stack", "batch", "--detach", "--run-id", f"cli-{code.lower()}", cwd=tmp_path, env=env
    )
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert says in proc.stderr and code in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and "botocore" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if code in line]) == 1
