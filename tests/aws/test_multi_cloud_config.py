"""A flowyml.yaml with stacks for three clouds, only flowyml[aws] loaded: aws-prod runs end to end through
the CLI (moto runs what was submitted), the other stacks read "needs flowyml[...]" and fail only when used."""

from __future__ import annotations

from pathlib import Path

import pytest

import flowyml
from flowyml.cli.main import main
from flowyml.core.status import ExecutionStatus
from flowyml.plugins.manager import reset_plugin_manager
from tests.aws.fake_aws import REGION

pytestmark = pytest.mark.aws
PIPELINES = Path(__file__).parent / "aws_pipelines.py"


@pytest.fixture
def only_aws(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FLOWYML_LOAD_PLUGINS", "aws")  # the gcp and azure plugins are not loaded
    reset_plugin_manager()
    yield
    reset_plugin_manager()


def test_run_stack_aws_prod_works_beside_stacks_whose_plugins_are_missing(
    fake, only_aws, artifact_root: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "flowyml.yaml"
    config.write_text(
        f"""
stacks:
  aws-prod:
    orchestrator: {{type: aws_batch, region: {REGION}, endpoint_url: "{fake.proxy.endpoint}",
                   job_queue: flowyml-queue, job_definition: flowyml-step}}
    artifact_store: {{uri: "{artifact_root}", settings: {{endpoint_url: "{fake.moto}", region: {REGION}}}}}
  gcp-prod:
    orchestrator: {{type: vertex_ai, project_id: my-project}}
    artifact_store: {{uri: "gs://my-bucket/flowyml"}}
  az-prod:
    orchestrator: {{type: azureml, subscription_id: s, resource_group: rg, workspace_name: ws, compute: cpu}}
"""
    )
    args = ["--config", str(config)]
    assert main([*args, "stack", "validate", "aws-prod"]) == 0
    assert main([*args, "stack", "list"]) == 0
    listed = capsys.readouterr().out
    assert "gcp-prod  (vertex_ai: needs flowyml[gcp])" in listed
    assert "az-prod  (azureml: needs flowyml[azure])" in listed

    target = f"{PIPELINES}:diamond"
    assert main([*args, "run", target, "--stack", "aws-prod", "--detach", "--run-id", "multi-cloud-1"]) == 0
    assert capsys.readouterr().out.strip() == "multi-cloud-1"
    run = flowyml.attach("multi-cloud-1")
    fake.execute(run.handle)
    assert run.wait_for_completion(timeout=60, poll_interval=0.1) is ExecutionStatus.COMPLETED
    assert run.get_output("result") == 2 * 10 + 30

    assert main([*args, "run", target, "--stack", "gcp-prod", "--run-id", "multi-cloud-2"]) != 0
    error = capsys.readouterr().err
    assert error.startswith(f"flowyml: {config}: stacks.gcp-prod.orchestrator.type: needs flowyml[gcp]: "), error
    assert error.count("\n") == 1
