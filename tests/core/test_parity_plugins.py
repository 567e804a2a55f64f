"""FlowyML 2.2.1's constructor keywords on the cloud facades, and the ``azure_ml`` backend name."""

from __future__ import annotations

import pytest

from flowyml.config.loader import parse_config
from flowyml.plugins.manager import get_plugin_manager


def test_s3_artifact_store_in_flowyml_form():
    orchestrators = pytest.importorskip("flowyml_aws.orchestrators")
    store = orchestrators.S3ArtifactStore(name="s3", bucket_name="my-bucket", region="eu-west-1")
    assert store.uri == "s3://my-bucket/flowyml" and store.name == "s3" and store.settings["region"] == "eu-west-1"
    with pytest.raises(ValueError, match="bucket_name"):
        orchestrators.S3ArtifactStore(name="s3")


def test_gcs_artifact_store_in_flowyml_form():
    orchestrators = pytest.importorskip("flowyml_gcp.orchestrators")
    fake = "http://127.0.0.1:9"  # an emulator endpoint: no credentials are looked up, nothing is called
    store = orchestrators.GCSArtifactStore(
        name="gcs", bucket_name="my-bucket", project_id="proj", prefix="runs", endpoint=fake
    )
    assert store.uri == "gs://my-bucket/runs" and store.name == "gcs" and store.settings["project"] == "proj"
    positional = orchestrators.GCSArtifactStore("gcs", bucket_name="other", endpoint=fake)
    assert positional.uri == "gs://other/flowyml" and positional.name == "gcs"
    assert orchestrators.GCSArtifactStore("gs://b/p", endpoint=fake).uri == "gs://b/p"
    with pytest.raises(ValueError, match="bucket_name"):
        orchestrators.GCSArtifactStore(name="gcs", endpoint=fake)


def test_azure_blob_store_and_azure_ml_orchestrator_in_flowyml_form():
    orchestrators = pytest.importorskip("flowyml_azure.orchestrators")
    store = orchestrators.AzureBlobArtifactStore(
        "azure_blob", account_url="https://acct.blob.core.windows.net", container_name="artifacts"
    )
    assert store.name == "azure_blob" and store.uri.startswith("abfs://artifacts")
    assert store.settings["account_url"] == "https://acct.blob.core.windows.net"
    orch = orchestrators.AzureMLOrchestrator(
        subscription_id="sub",
        resource_group="rg",
        workspace_name="ws",
        compute="cpu-cluster",
        experiment_name="flowyml",
        code=".",
        credential=None,
        artifact_store="abfs://artifacts@acct.dfs.core.windows.net/flowyml",
    )
    assert orch.code == "." and orch.config.experiment_name == "flowyml" and orch.backend_name == "azureml"


def test_azure_ml_is_another_name_of_the_azureml_backend():
    pytest.importorskip("flowyml_azure")
    assert get_plugin_manager().backend("azure_ml") is get_plugin_manager().backend("azureml")
    config = parse_config(
        {
            "stacks": {
                "aml": {
                    "orchestrator": {
                        "type": "azure_ml",
                        "subscription_id": "sub",
                        "resource_group": "rg",
                        "workspace_name": "ws",
                        "compute": "cpu",
                    },
                    "artifact_store": {"uri": "abfs://c@acct.dfs.core.windows.net/flowyml"},
                }
            }
        }
    )
    assert config.orchestrator("aml").backend_name == "azureml"
