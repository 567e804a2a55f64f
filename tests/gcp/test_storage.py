"""gs:// storage against fake-gcs-server, which enforces ifGenerationMatch like GCS (multipart uploads).

What the emulator cannot prove: uploads above 8 MiB go through the SDK's resumable path, where
fake-gcs-server ignores the precondition (asserted below, so a future emulator that enforces it
shows up). Real GCS enforces it on both paths; our code passes the same argument on both.
"""

from __future__ import annotations

import threading

import pytest

from flowyml.artifacts.store import ArtifactStore
from flowyml.core.errors import ArtifactCorruptError, ArtifactError, ArtifactNotFoundError


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


def test_emulator_gap_resumable_uploads_ignore_the_precondition(storage) -> None:
    big = b"x" * (9 * 1024 * 1024)  # > 8 MiB: google-cloud-storage switches to a resumable upload
    assert storage.write_bytes("big/obj", big, create_only=True) is True
    # Real GCS answers 412 here (-> False). fake-gcs-server does not check on this path.
    assert storage.write_bytes("big/obj", big, create_only=True) is True


def test_list_keys_treats_the_prefix_as_a_folder(storage) -> None:
    for key in ("runs/r1/a", "runs/r1/b/c", "runs/r10/a", "top"):
        storage.write_bytes(key, b".")
    assert storage.list_keys("runs/r1") == ["runs/r1/a", "runs/r1/b/c"]
    assert storage.list_keys("runs/r1/") == ["runs/r1/a", "runs/r1/b/c"]
    assert storage.list_keys() == ["runs/r1/a", "runs/r1/b/c", "runs/r10/a", "top"]
    assert storage.list_keys("nothing") == []


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
