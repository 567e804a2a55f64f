"""Fixtures of the Azure ML tests: a fake Azure ML (HTTPS, CA made per session) and Azurite.

Nothing leaves 127.0.0.1: the root conftest installs flowyml's egress guard for the session, and
``no_cloud`` below fails any test whose credential was asked for a real cloud's token.
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the fakes and test pipelines: importable by name

from azfake_infra import AZURITE_ACCOUNT, Azurite, find_azurite, make_tls_files
from azfake_server import FakeAzureML

from flowyml_azure.config import AzureMLConfig

CREDENTIAL = "azfake_credential:FakeCredential"
CONNECTION_ENV = "AZURE_STORAGE_CONNECTION_STRING"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.azure)
            # azure-ai-ml's schemas trigger hundreds of marshmallow deprecation warnings on import
            item.add_marker(pytest.mark.filterwarnings("ignore::DeprecationWarning"))


@pytest.fixture(scope="session")
def tls_files() -> dict[str, str]:
    return make_tls_files(Path(tempfile.mkdtemp(prefix="flowyml-azure-ca-")))


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    exe = find_azurite()
    if exe is None:
        pytest.skip("azurite is not installed: run scripts/install-azurite.sh (needs node + npm)")
    server = Azurite(exe).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azurite_tls(tls_files: dict[str, str]) -> Iterator[Azurite]:
    """Azurite over HTTPS with OAuth: what jobs reach with the compute's managed identity."""
    exe = find_azurite()
    if exe is None:
        pytest.skip("azurite is not installed: run scripts/install-azurite.sh (needs node + npm)")
    server = Azurite(exe, tls=tls_files).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _azure_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AZUREML_CURRENT_CLOUD", "ARM_CLOUD_METADATA_URL", "AZUREML_DEV_URL_MFE", CONNECTION_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def fake(tls_files: dict[str, str]) -> Iterator[FakeAzureML]:
    server = FakeAzureML(tls=tls_files).start()
    server.exec_env = server.platform_env()  # every job gets the compute's managed identity
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def config(fake: FakeAzureML) -> AzureMLConfig:
    return AzureMLConfig(
        subscription_id=fake.subscription_id,
        resource_group=fake.resource_group,
        workspace_name=fake.workspace,
        compute="cpu-cluster",
        credential=CREDENTIAL,
        arm_endpoint=fake.base_url,
        ca_bundle=fake.ca_file,
        log_poll_interval=0.05,
    )


@pytest.fixture
def blob_store(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, str]]:
    """(artifact root, store settings) in Azurite; the key is only in the environment."""
    monkeypatch.setenv(CONNECTION_ENV, azurite.connection_string)
    root = f"abfs://flowyml@{AZURITE_ACCOUNT}.dfs.core.windows.net/t-{uuid.uuid4().hex[:8]}"
    return root, {"account_url": azurite.blob_endpoint, "connection_string_env": CONNECTION_ENV}


@pytest.fixture
def platform_store(azurite_tls: Azurite, monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, str]]:
    """(artifact root, store settings) for runs whose jobs execute: this machine writes with the
    connection string (only in its environment) and trusts the test CA; jobs get neither and
    authenticate with the compute's managed identity."""
    monkeypatch.setenv(CONNECTION_ENV, azurite_tls.connection_string)
    root = f"abfs://flowyml@{AZURITE_ACCOUNT}.dfs.core.windows.net/t-{uuid.uuid4().hex[:8]}"
    return root, {
        "account_url": azurite_tls.blob_endpoint,
        "connection_string_env": CONNECTION_ENV,
        "ca_bundle": azurite_tls.tls["ca"] if azurite_tls.tls else "",
    }
