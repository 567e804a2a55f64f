"""gs:// storage against fake-gcs-server, which enforces ifGenerationMatch like GCS (multipart uploads).

What the emulator cannot prove: uploads above 8 MiB go through the SDK's resumable path, where
fake-gcs-server ignores the precondition (asserted below, so a future emulator that enforces it
shows up). Real GCS enforces it on both paths; our code passes the same argument on both.
"""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from flowyml.artifacts import ArtifactStore
from flowyml.core.errors import ArtifactCorruptError, ArtifactError, ArtifactNotFoundError
from flowyml.testing.storage import StorageContract

#: small parts: a 12 MiB object is a composed upload of 3 parallel parts, read as 3 ranges
SMALL_PARTS = {"part_size_mb": "5", "threshold_mb": "5", "max_concurrency": "3"}


class TestGCSStorageContract(StorageContract):
    large_size = 12 * 1024 * 1024

    @pytest.fixture
    def storage(self, bucket, store_settings):  # type: ignore[no-untyped-def]
        from flowyml_gcp.store import GCSStorage

        return GCSStorage(f"gs://{bucket}/c-{uuid.uuid4().hex[:8]}", {**store_settings, **SMALL_PARTS})


@pytest.fixture
def storage(bucket, store_settings):  # type: ignore[no-untyped-def]
    from flowyml_gcp.store import GCSStorage

    return GCSStorage(f"gs://{bucket}/root/", store_settings)


def test_round_trip_exists_and_uri(storage, bucket) -> None:
    assert storage.root == f"gs://{bucket}/root"
    assert storage.write_bytes("a/b.bin", b"hello") is True
    assert storage.read_bytes("a/b.bin") == b"hello"
    assert storage.exists("a/b.bin") and not storage.exists("a/c.bin")
    assert storage.uri("a/b.bin") == f"gs://{bucket}/root/a/b.bin"
    assert storage.write_bytes("a/b.bin", b"again") is True  # a plain write replaces
    assert storage.read_bytes("a/b.bin") == b"again"
    with pytest.raises(ArtifactNotFoundError):
        storage.read_bytes("a/missing")
    with pytest.raises(ArtifactError):
        storage.read_bytes("../escape")


def test_create_only_never_replaces_an_object(storage) -> None:
    assert storage.write_bytes("m/manifest.json", b"v1", create_only=True) is True
    assert storage.write_bytes("m/manifest.json", b"v2", create_only=True) is False
    assert storage.read_bytes("m/manifest.json") == b"v1"


def test_racing_create_only_writers_have_exactly_one_winner(storage) -> None:
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def write(i: int) -> None:
        barrier.wait()
        results.append(storage.write_bytes("race/obj", f"writer {i}".encode(), create_only=True))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert storage.read_bytes("race/obj").startswith(b"writer ")


def test_composed_uploads_leave_no_parts_and_compose_a_tree(bucket, store_settings) -> None:
    from flowyml_gcp.store import GCSStorage, storage_client

    settings = {**store_settings, **SMALL_PARTS}
    storage = GCSStorage(f"gs://{bucket}/tree", settings)
    import flowyml_gcp.store as impl

    data = os.urandom(12 * 1024 * 1024 + 5)
    old = impl.COMPOSE_MAX
    impl.COMPOSE_MAX = 2  # 3 parts -> two levels of compose, as 33+ parts would in production
    try:
        assert storage.write_bytes("obj", data) is True
    finally:
        impl.COMPOSE_MAX = old
    assert storage.read_bytes("obj") == data
    names = [b.name for b in storage_client(settings).list_blobs(bucket)]
    assert names == ["tree/obj"]  # the temporary parts and intermediates are gone
    assert storage.write_bytes("obj", data[::-1], create_only=True) is False  # the compose precondition
    assert storage.read_bytes("obj") == data


def test_a_failed_composed_upload_deletes_its_parts(bucket, store_settings) -> None:
    from flowyml_gcp.store import GCSStorage, storage_client

    settings = {**store_settings, **SMALL_PARTS}
    storage = GCSStorage(f"gs://{bucket}/failed", settings)
    with pytest.raises(RuntimeError, match="broke"), storage.open_write("obj") as stream:
        stream.write(os.urandom(11 * 1024 * 1024))  # two parts uploaded
        raise RuntimeError("broke")
    assert [b.name for b in storage_client(settings).list_blobs(bucket)] == []


def test_artifact_store_on_gcs_checks_manifest_and_checksum(bucket, store_settings) -> None:
    from flowyml.stacks.gcp import GCSArtifactStore

    store = GCSArtifactStore(f"gs://{bucket}/artifacts", project="flowyml-test", endpoint=store_settings["endpoint"])
    uri = store.save({"weights": [0.5, 1.5]}, "models/m1")
    assert uri == f"gs://{bucket}/artifacts/models/m1"
    assert store.load(uri) == {"weights": [0.5, 1.5]}
    manifest = store.manifest("models/m1")
    store.storage.write_bytes(f"models/m1/{manifest['data']}", b"tampered")
    with pytest.raises(ArtifactCorruptError):
        store.load("models/m1")
    via_hook = ArtifactStore(f"gs://{bucket}/artifacts", store_settings)  # dispatched by the gs:// scheme
    assert type(via_hook.storage).__name__ == "GCSStorage"
    assert via_hook.exists("models/m1")


def test_bad_uris_are_refused() -> None:
    from flowyml_gcp.store import split_uri

    assert split_uri("gs://b/x/y/") == ("b", "x/y")
    with pytest.raises(ArtifactError):
        split_uri("s3://b/x")
    with pytest.raises(ArtifactError):
        split_uri("gs:///x")


def test_a_gs_store_without_credentials_is_an_auth_error_saying_what_to_set(tmp_path, monkeypatch) -> None:
    """A stack with no `artifact_store` on vertex_ai gets a gs:// bucket: on a machine with no
    Application Default Credentials, opening it says what to set (exit 5), not an SDK error."""
    from flowyml.core.errors import AuthError
    from flowyml.plugins.manager import get_plugin_manager
    from tests.gcp.test_submit import _no_credentials

    _no_credentials(monkeypatch, tmp_path)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    with pytest.raises(AuthError, match="gs:// artifact store: no Google credentials found") as info:
        get_plugin_manager().storage("gs://flowyml-no-creds/artifacts", {"project": "p"})
    assert "GOOGLE_APPLICATION_CREDENTIALS" in str(info.value) and "\n" not in str(info.value)
