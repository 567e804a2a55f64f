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
