"""Registration and lazy imports: nothing Azure loads until an Azure operation runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flowyml.core.status import ExecutionStatus
from flowyml.plugins.manager import get_plugin_manager
from flowyml_azure.config import AzureMLConfig
from flowyml_azure.states import NATIVE_STATES

pytestmark = pytest.mark.azure


def test_the_backend_and_schemes_are_registered() -> None:
    pm = get_plugin_manager()
    info = pm.backend("azureml")
    assert info.config_class is AzureMLConfig and info.native_states == NATIVE_STATES
    assert info.orchestrator == "flowyml.stacks.azure.AzureMLOrchestrator" and info.extra == "azure"
    assert {"abfs", "abfss", "https"} <= set(pm.stores)
    assert all(isinstance(v, ExecutionStatus) for v in info.native_states.values())


def test_registering_and_importing_the_facades_loads_no_azure_sdk() -> None:
    code = (
        "import json, sys\n"
        "from flowyml.plugins.manager import get_plugin_manager\n"
        "pm = get_plugin_manager(); pm.backend('azureml')\n"
        "from flowyml.stacks.azure import AzureMLOrchestrator, AzureBlobArtifactStore\n"
        "o = AzureMLOrchestrator(subscription_id='s', resource_group='r', workspace_name='w', compute='c',\n"
        "                        artifact_store='abfs://c@acct01.dfs.core.windows.net/p')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'azure' or m.startswith('azure.'))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_config_secrets_never_exist() -> None:
    """No field holds a secret: the whole config can travel in run handles."""
    import attrs

    assert not [f.name for f in attrs.fields(AzureMLConfig) if f.metadata.get("secret")]
    assert {"credential", "arm_endpoint", "cloud", "ca_bundle"} <= {f.name for f in attrs.fields(AzureMLConfig)}


def test_credential_settings() -> None:
    from azure.identity import AzureCliCredential, DefaultAzureCredential

    from flowyml.core.errors import ConfigError
    from flowyml_azure.credentials import register_credential, resolve_credential

    assert isinstance(resolve_credential("default"), DefaultAzureCredential)  # built lazily, no network
    assert isinstance(resolve_credential("cli"), AzureCliCredential)
    assert type(resolve_credential("azfake_credential:FakeCredential")).__name__ == "FakeCredential"
    with pytest.raises(ConfigError, match="cannot be imported"):
        resolve_credential("no_such_module_xyz:make")
    with pytest.raises(ConfigError, match="process that created it"):
        resolve_credential("object:12345")
    with pytest.raises(ConfigError, match="get_token"):
        register_credential(object())


def test_cloud_settings() -> None:
    from flowyml_azure.client import cloud_arguments

    custom = cloud_arguments(AzureMLConfig("s", "r", "w", "c", arm_endpoint="https://arm.example.test"))
    assert set(custom["cloud_metadata"]) == {
        "resource_manager",
        "active_directory",
        "aml_resource_id",
        "azure_portal",
        "storage_endpoint",
        "registry_discovery_endpoint",
    }
    assert custom["cloud_metadata"]["resource_manager"] == "https://arm.example.test/"
    other = cloud_arguments(AzureMLConfig("s", "r", "w", "c", arm_endpoint="https://arm2.example.test"))
    assert custom["cloud"] != other["cloud"], "custom cloud names must differ per endpoint (first one wins)"
    assert cloud_arguments(AzureMLConfig("s", "r", "w", "c", cloud="AzureChinaCloud")) == {"cloud": "AzureChinaCloud"}
    china = AzureMLConfig("s", "r", "w", "c", cloud="AzureChinaCloud")
    assert china.resource_manager == "https://management.chinacloudapi.cn/"


def test_a_config_aimed_at_the_real_cloud_is_stopped_by_the_egress_guard(tmp_path) -> None:
    """Proof that tests cannot reach Azure: without arm_endpoint the SDK goes to management.azure.com."""
    import az_pipelines
    from azhelpers import file_root, orchestrator

    from flowyml.core.errors import TransientBackendError

    config = AzureMLConfig(
        "00000000-0000-0000-0000-000000000000", "rg", "ws", "cpu-cluster", credential="azfake_credential:FakeCredential"
    )
    with pytest.raises(TransientBackendError) as info:
        orchestrator(config, file_root(tmp_path)).run_pipeline(az_pipelines.ticking, run_id="egress-1")
    chain: list[str] = []
    err: BaseException | None = info.value
    while err is not None and str(err) not in chain:
        chain.append(str(err))
        err = err.__cause__ or err.__context__
    assert any("egress blocked" in text and "management.azure.com" in text for text in chain), chain
