"""End to end: the fake runs each submitted unit's command and env as a local subprocess, in
dependency order, against Azurite as the artifact store; outputs are read back like a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import az_pipelines
import pytest
from azfake_credential import FakeCredential
from azfake_infra import AZURITE_ACCOUNT, Azurite
from azfake_knobs import process_env
from azfake_server import FakeAzureML

from flowyml.config.loader import load_config
from flowyml.core.status import ExecutionStatus as S
from flowyml.orchestrators import SubmissionResult
from flowyml.orchestrators.layout import RunLayout
from flowyml_azure.orchestrators import AzureBlobArtifactStore, AzureMLOrchestrator

pytestmark = pytest.mark.azure

STACK = """
stacks:
  azure:
    orchestrator:
      type: azureml
      subscription_id: ${AZ_SUB}
      resource_group: flowyml-rg
      workspace_name: flowyml-ws
      compute: cpu-cluster
      experiment_name: e2e
      credential: azfake_credential:FakeCredential
      arm_endpoint: ${AZ_ARM}
      ca_bundle: ${AZ_CA}
      log_poll_interval: 0.05
    artifact_store:
      uri: abfs://flowyml@devstoreaccount1.dfs.core.windows.net/e2e
      settings:
        account_url: ${AZURITE_BLOB_URL}
        connection_string_env: AZURE_STORAGE_CONNECTION_STRING
        ca_bundle: ${AZ_CA}
    resources: {cpu: "2", memory: 4Gi}
    docker:
      image: ghcr.io/example/flowyml-runner:1.0
      env_vars: {TEAM: ml}
"""


def test_a_pipeline_from_flowyml_yaml_runs_end_to_end(
    fake: FakeAzureML, azurite_tls: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    azurite = azurite_tls
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    for name, value in {
        "AZ_SUB": fake.subscription_id,
        "AZ_ARM": fake.base_url,
        "AZ_CA": fake.ca_file,
        "AZURITE_BLOB_URL": azurite.blob_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "flowyml.yaml").write_text(STACK)
    orch = load_config(tmp_path / "flowyml.yaml").orchestrator("azure")

    sub = orch.run_pipeline(az_pipelines.three_units, run_id="e2e-1")
    thread = fake.execute(sub.job_id, background=True)
    followed = [r.message for r in sub.logs(follow=True)]
    assert thread is not None
    thread.join(60)
    assert sub.wait_for_completion(timeout=30, poll_interval=0.05) is S.COMPLETED

    # The final output, read back through the user API, from Azurite.
    assert sub.get_output("score") == (0 + 10 + 20 + 30) + 4
    assert sub.get_output("model") == {"weights": [0, 10, 20, 30]}
    # Each unit really ran, in dependency order, with its own env and the step-runner command.
    ran = [e for e in fake.executions]
    assert [e["env"]["FLOWYML_UNIT"] for e in ran] == ["prepare", "train", "evaluate"]
    assert all(e["code"] == 0 and e["command"].startswith("flowyml step-runner --job abfs://") for e in ran)
    assert all("AccountKey" not in json.dumps(e["env"]) for e in ran), "the storage secret leaked into a job"
    # Settings that only make sense here did not travel: the jobs wrote with the compute's identity.
    for e in ran:
        job_settings = json.loads(e["env"]["FLOWYML_STORE_SETTINGS"])
        assert job_settings == {"account_url": azurite.blob_endpoint}, job_settings
    assert "https://storage.azure.com" in fake.msi_tokens, "the jobs did not use the managed identity"
    assert "preparing 4 rows" in followed and "evaluating" in followed
    report = orch.get_status_report(sub.job_id)
    assert report.units == dict.fromkeys(["prepare", "train", "evaluate"], S.COMPLETED)
    # The artifacts are blobs in Azurite, under the stack's prefix.
    blobs = AzureBlobArtifactStore(
        "abfs://flowyml@devstoreaccount1.dfs.core.windows.net/e2e",
        account_url=azurite.blob_endpoint,
        connection_string_env="AZURE_STORAGE_CONNECTION_STRING",
        ca_bundle=fake.ca_file,
    )
    layout = RunLayout("e2e-1")
    keys = blobs.storage.list_keys(layout.root)
    assert layout.spec in keys and f"{layout.output('evaluate', 'score')}/manifest.json" in keys


def test_the_seed_constructor_with_a_credential_object_and_workspace_default_store(
    fake: FakeAzureML, azurite_tls: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    azurite = azurite_tls
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    credential = FakeCredential()
    orch = AzureMLOrchestrator(
        subscription_id=fake.subscription_id,
        resource_group="flowyml-rg",
        workspace_name="flowyml-ws",
        compute="cpu-cluster",
        credential=credential,
        arm_endpoint=fake.base_url,
        ca_bundle=fake.ca_file,
        store_settings={
            "account_url": azurite.blob_endpoint,
            "connection_string_env": "AZURE_STORAGE_CONNECTION_STRING",
            "ca_bundle": fake.ca_file,
        },
        image="ghcr.io/example/flowyml-runner:1.0",
        log_poll_interval=0.05,
    )
    assert orch.to_dict()["artifact_store"] == "<workspace default datastore>"
    assert orch.validate() and not fake.requests, "constructing, validating, describing: no call to Azure"
    result = orch.run_pipeline(az_pipelines.ticking, run_id="seed-1")
    assert orch.artifact_root == (
        f"abfs://azureml-blobstore-{fake.workspace_guid}@{AZURITE_ACCOUNT}.dfs.core.windows.net/flowyml"
    )
    assert credential.scopes, "the credential object given in code was used"
    fake.execute(result.job_id)
    assert orch.get_run_status(result.job_id) is S.COMPLETED
    assert result.get_output("ticks") == 5
    assert "tick 4" in orch.get_run_logs(result.job_id)
    again = SubmissionResult.from_json(result.to_json())
    assert again.job_id == "seed-1"


def test_a_stack_without_artifact_store_uses_the_workspace_default_datastore(
    fake: FakeAzureML, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"AZ_SUB": fake.subscription_id, "AZ_ARM": fake.base_url, "AZ_CA": fake.ca_file}.items():
        monkeypatch.setenv(name, value)
    stack = STACK.split("    artifact_store:")[0]
    (tmp_path / "flowyml.yaml").write_text(stack)
    orch = load_config(tmp_path / "flowyml.yaml").orchestrator("azure")
    assert orch.artifact_root == (
        f"abfs://azureml-blobstore-{fake.workspace_guid}@{AZURITE_ACCOUNT}.dfs.core.windows.net/flowyml"
    )


def test_a_fresh_process_reattaches_and_reads_status_logs_and_details(
    fake: FakeAzureML, platform_store: tuple[str, dict[str, str]], config, tmp_path: Path
) -> None:
    from azhelpers import orchestrator

    root, settings = platform_store
    orch = orchestrator(config, root, settings)
    sub = orch.run_pipeline(az_pipelines.three_units, run_id="attach-1")
    fake.execute(sub.job_id)
    code = textwrap.dedent("""
        import json, flowyml
        run = flowyml.attach("attach-1")
        status = run.status()
        logs = [r.message for r in run.logs()]
        details = run.orchestrator.get_run_details("attach-1")
        print(json.dumps({"status": status.name, "logs": logs, "children": sorted(details["children"]),
                          "score": run.get_output("score")}))
    """)
    env = {**os.environ, **process_env()}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["status"] == "COMPLETED" and doc["score"] == 64
    assert "training on 4 rows" in doc["logs"]
    assert doc["children"] == ["evaluate", "prepare", "train"]
