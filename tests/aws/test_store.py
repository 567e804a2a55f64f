"""s3:// storage against moto S3 (through the proxy, so we can see and disturb each request)."""

from __future__ import annotations

import os
import uuid

import pytest

from flowyml.artifacts import ArtifactStore
from flowyml.core.errors import ArtifactError, ArtifactNotFoundError, TransientBackendError
from flowyml.plugins.manager import get_plugin_manager
from flowyml.testing.storage import StorageContract

pytestmark = pytest.mark.aws


@pytest.fixture
def via_proxy(fake) -> dict[str, str]:
    return {"endpoint_url": fake.proxy.endpoint, "region": "us-east-1"}


#: small parts, so that a 12 MiB object is a 3-part parallel upload and 3 ranged GETs
SMALL_PARTS = {"multipart_threshold_mb": "5", "multipart_chunk_mb": "5", "max_concurrency": "3"}


class TestS3StorageContract(StorageContract):
    large_size = 12 * 1024 * 1024

    @pytest.fixture
    def storage(self, fake, store_settings):  # type: ignore[no-untyped-def]
        from flowyml_aws.store import S3Storage

        return S3Storage(f"s3://flowyml-test/contract-{uuid.uuid4().hex[:8]}", {**store_settings, **SMALL_PARTS})


def test_streams_upload_parts_in_parallel_and_read_ranges(fake, via_proxy) -> None:
    from flowyml_aws.store import S3Storage

    storage = S3Storage("s3://flowyml-test/par", {**via_proxy, **SMALL_PARTS})
    data = os.urandom(12 * 1024 * 1024)
    with storage.open_write("big") as stream:
        for start in range(0, len(data), 1024 * 1024):
            stream.write(data[start : start + 1024 * 1024])
    assert len(fake.proxy.sent("s3:put")) == 3  # three UploadPart requests, no PutObject
    assert len(fake.proxy.sent("s3:post")) == 2  # create + complete
    fake.proxy.reset()
    with storage.open_read("big") as reader:
        assert reader.read() == data
    assert len(fake.proxy.sent("s3:get")) == 3 and len(fake.proxy.sent("s3:head")) == 1


def test_a_failing_part_is_retried_then_the_upload_is_aborted(fake, via_proxy) -> None:
    from flowyml_aws.store import S3Storage
    from tests.aws.fake_aws import direct_client

    storage = S3Storage("s3://flowyml-test/fail", {**via_proxy, **SMALL_PARTS})
    data = os.urandom(11 * 1024 * 1024)
    fake.proxy.fail(["s3:put"], 2, status=503, code="SlowDown")  # two part uploads throttled once each
    assert storage.write_bytes("retried", data) is True and storage.read_bytes("retried") == data
    fake.proxy.fail(["s3:put"], 1000, status=500, code="InternalError")
    with pytest.raises(TransientBackendError):
        storage.write_bytes("doomed", data)
    assert not storage.exists("doomed")
    s3 = direct_client("s3", fake.moto)
    assert s3.list_multipart_uploads(Bucket="flowyml-test").get("Uploads", []) == []  # aborted, nothing billed


def test_a_read_never_mixes_two_versions(fake, store_settings) -> None:
    from flowyml_aws.store import S3Storage

    storage = S3Storage("s3://flowyml-test/pin", {**store_settings, **SMALL_PARTS, "max_concurrency": "1"})
    first = os.urandom(12 * 1024 * 1024)
    storage.write_bytes("obj", first)
    reader = storage.open_read("obj")
    assert reader.read(10) == first[:10]
    storage.write_bytes("obj", os.urandom(12 * 1024 * 1024))  # replaced while being read
    with pytest.raises(ArtifactError, match="replaced or deleted while being read"):
        reader.read()
    reader.close()


def test_large_numpy_artifacts_stream_through_s3(fake, store_settings) -> None:
    np = pytest.importorskip("numpy")
    store = ArtifactStore("s3://flowyml-test/np", {**store_settings, **SMALL_PARTS})
    array = np.random.default_rng(1).random((1500, 1000))  # 12 MB: three parts
    assert np.array_equal(store.load(store.save(array, "arrays/a")), array)
    assert store.manifest("arrays/a")["size"] > 11 * 1024 * 1024


def test_round_trip_list_exists_and_missing(fake, via_proxy) -> None:
    storage = get_plugin_manager().storage("s3://flowyml-test/root", via_proxy)
    assert storage.root == "s3://flowyml-test/root"
    assert storage.write_bytes("a/b.bin", b"hello") is True
    assert storage.read_bytes("a/b.bin") == b"hello"
    assert storage.exists("a/b.bin") and not storage.exists("a/c.bin")
    storage.write_bytes("a/c/d.json", b"{}")
    assert storage.list_keys("a") == ["a/b.bin", "a/c/d.json"]
    assert storage.uri("a/b.bin") == "s3://flowyml-test/root/a/b.bin"
    with pytest.raises(ArtifactNotFoundError):
        storage.read_bytes("nope")


def test_create_only_is_a_conditional_put(fake, via_proxy) -> None:
    storage = get_plugin_manager().storage("s3://flowyml-test/root", via_proxy)
    assert storage.write_bytes("once", b"first", create_only=True) is True
    assert storage.write_bytes("once", b"second", create_only=True) is False
    assert storage.read_bytes("once") == b"first"
    puts = fake.proxy.sent("s3:put")
    assert len(puts) == 2 and puts[-1].status == 412


def test_large_objects_go_multipart_and_appear_whole(fake, via_proxy) -> None:
    settings = {**via_proxy, "multipart_threshold_mb": "5", "multipart_chunk_mb": "5"}
    storage = get_plugin_manager().storage("s3://flowyml-test/root", settings)
    data = os.urandom(11 * 1024 * 1024)
    assert storage.write_bytes("big.bin", data) is True
    assert storage.read_bytes("big.bin") == data
    from tests.aws.fake_aws import direct_client

    head = direct_client("s3", fake.moto).head_object(Bucket="flowyml-test", Key="root/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    assert storage.write_bytes("big.bin", data, create_only=True) is False


def test_throttled_s3_is_retried_and_persistent_trouble_is_transient(fake, via_proxy) -> None:
    storage = get_plugin_manager().storage("s3://flowyml-test/root", via_proxy)
    fake.proxy.fail(["s3:put", "s3:get"], 4, status=503, code="SlowDown")
    storage.write_bytes("k", b"v")
    assert storage.read_bytes("k") == b"v"
    fake.proxy.fail(["s3:get"], 100, status=500, code="InternalError")
    with pytest.raises(TransientBackendError):
        storage.read_bytes("k")


def test_artifact_store_facade(fake, store_settings) -> None:
    from flowyml.stacks.aws import S3ArtifactStore

    store = S3ArtifactStore(
        "flowyml-test", prefix="facade", region="us-east-1", endpoint_url=store_settings["endpoint_url"]
    )
    uri = store.save({"w": [1, 2]}, "models/m1")
    assert uri == "s3://flowyml-test/facade/models/m1"
    assert store.load(uri) == {"w": [1, 2]}
    assert ArtifactStore(store.uri, store.settings).load("models/m1") == {"w": [1, 2]}
