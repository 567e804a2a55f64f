"""Blob Storage against Azurite: URI forms, whole-object and create-only writes, races, settings."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from azfake_infra import AZURITE_ACCOUNT, Azurite

from flowyml.artifacts import ArtifactStore
from flowyml.core.errors import ArtifactCorruptError, ArtifactError, ArtifactNotFoundError, ConfigError
from flowyml.plugins.manager import get_plugin_manager
from flowyml.testing.storage import StorageContract
from flowyml_azure.store import BlobStorage
from flowyml_azure.uris import is_blob_https, parse

pytestmark = pytest.mark.azure
#: small blocks: a 12 MiB object is 3 blocks staged in parallel, then read as 3 ranges
SMALL_BLOCKS = {"block_size_mb": "5", "threshold_mb": "5", "max_concurrency": "3"}


class TestBlobStorageContract(StorageContract):
    large_size = 12 * 1024 * 1024

    @pytest.fixture
    def storage(self, blob_store: tuple[str, dict[str, str]]) -> BlobStorage:
        root, settings = blob_store
        return BlobStorage(root, {**settings, **SMALL_BLOCKS})


def test_large_blobs_are_committed_block_lists(blob_store: tuple[str, dict[str, str]]) -> None:
    root, settings = blob_store
    storage = BlobStorage(root, {**settings, **SMALL_BLOCKS})
    data = os.urandom(12 * 1024 * 1024)
    assert storage.write_bytes("big", data) is True
    blocks = storage._blob("big").get_block_list("committed")[0]
    assert [b.size for b in blocks] == [5 * 1024 * 1024, 5 * 1024 * 1024, 2 * 1024 * 1024]
    assert storage.write_bytes("big", data[::-1], create_only=True) is False  # If-None-Match on the commit
    assert storage.read_bytes("big") == data


def test_a_read_never_mixes_two_versions(blob_store: tuple[str, dict[str, str]]) -> None:
    root, settings = blob_store
    storage = BlobStorage(root, {**settings, **SMALL_BLOCKS, "max_concurrency": "1"})
    first = os.urandom(12 * 1024 * 1024)
    storage.write_bytes("obj", first)
    reader = storage.open_read("obj")
    assert reader.read(10) == first[:10]
    storage.write_bytes("obj", os.urandom(12 * 1024 * 1024))
    with pytest.raises(ArtifactError, match="replaced or deleted while being read"):
        reader.read()
    reader.close()


def test_settings_of_streams_are_checked(blob_store: tuple[str, dict[str, str]]) -> None:
    root, settings = blob_store
    with pytest.raises(ConfigError, match="block_size_mb"):
        BlobStorage(root, {**settings, "block_size_mb": "big"})


def test_uri_forms() -> None:
    loc = parse("abfs://models@acct01.dfs.core.windows.net/team/flowyml/")
    assert (loc.account, loc.container, loc.prefix, loc.root) == (
        "acct01",
        "models",
        "team/flowyml",
        "abfs://models@acct01.dfs.core.windows.net/team/flowyml",
    )
    assert loc.default_account_url == "https://acct01.blob.core.windows.net"
    china = parse("abfss://c@acct01.dfs.core.chinacloudapi.cn/p")
    assert china.default_account_url == "https://acct01.blob.core.chinacloudapi.cn"
    assert parse("abfs://c/p").account is None
    https = parse("https://acct01.blob.core.windows.net/c/a/b")
    assert (https.account, https.container, https.prefix) == ("acct01", "c", "a/b")
    assert is_blob_https("https://acct01.blob.core.windows.net/c") and not is_blob_https("https://example.com/c")
    with pytest.raises(ConfigError, match="datastore"):
        parse("azureml://datastores/workspaceblobstore/paths/flowyml")
    with pytest.raises(ConfigError):
        parse("abfs://c@not-an-account-host/p")


def test_the_storage_hook_claims_only_blob_uris() -> None:
    pm = get_plugin_manager()
    with pytest.raises(ConfigError, match="not an Azure Blob Storage URL"):
        pm.storage("https://example.com/x", {})
    with pytest.raises(ConfigError, match="names no storage account"):
        pm.storage("abfs://c/p", {})
    with pytest.raises(ConfigError, match="unknown key"):
        pm.storage("abfs://c/p", {"account_key": "secret"})


def test_create_only_writes_are_atomic_and_never_replace(blob_store: tuple[str, dict[str, str]]) -> None:
    root, settings = blob_store
    storage = get_plugin_manager().storage(root, settings)
    assert isinstance(storage, BlobStorage) and storage.root == root
    assert storage.write_bytes("a/probe", b"first", create_only=True) is True  # container created on demand
    assert storage.write_bytes("a/probe", b"second", create_only=True) is False
    assert storage.read_bytes("a/probe") == b"first"
    assert storage.write_bytes("a/probe", b"third") is True
    assert storage.read_bytes("a/probe") == b"third"
    assert storage.exists("a/probe") and not storage.exists("a/none")
    with pytest.raises(ArtifactNotFoundError):
        storage.read_bytes("a/none")
    storage.write_bytes("a/b/c", b"x")
    assert storage.list_keys("a") == ["a/b/c", "a/probe"] and storage.list_keys("zzz") == []
    assert storage.uri("a/probe") == f"{root}/a/probe"


def test_racing_writers_exactly_one_wins(blob_store: tuple[str, dict[str, str]]) -> None:
    root, settings = blob_store
    storage = BlobStorage(root, settings)
    storage.write_bytes("warmup", b"")

    def writer(i: int) -> bool:
        return storage.write_bytes("race/manifest.json", f'{{"writer": {i}}}'.encode(), create_only=True)

    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(writer, range(8)))
    assert wins.count(True) == 1
    assert storage.read_bytes("race/manifest.json") == f'{{"writer": {wins.index(True)}}}'.encode()


def test_artifacts_have_manifests_and_checksums(blob_store: tuple[str, dict[str, str]]) -> None:
    root, settings = blob_store
    store = ArtifactStore(root, settings)
    uri = store.save({"w": [1, 2]}, "models/m1")
    assert uri == f"{root}/models/m1" and store.load(uri) == {"w": [1, 2]}
    manifest = store.manifest("models/m1")
    store.storage.write_bytes(f"models/m1/{manifest['data']}", b"tampered")
    with pytest.raises(ArtifactCorruptError):
        store.load("models/m1")


def test_settings_need_the_named_environment_variable(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWYML_TEST_MISSING", raising=False)
    root = f"abfs://flowyml@{AZURITE_ACCOUNT}.dfs.core.windows.net/{uuid.uuid4().hex[:6]}"
    with pytest.raises(ConfigError, match="FLOWYML_TEST_MISSING"):
        BlobStorage(root, {"connection_string_env": "FLOWYML_TEST_MISSING"})
    monkeypatch.setenv("FLOWYML_TEST_CS", azurite.connection_string)
    storage = BlobStorage(root, {"connection_string_env": "FLOWYML_TEST_CS"})  # endpoint from the string
    assert storage.write_bytes("k", b"v", create_only=True) and storage.read_bytes("k") == b"v"
