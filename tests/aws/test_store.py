"""s3:// storage against moto S3 (through the proxy, so we can see and disturb each request)."""

from __future__ import annotations

import os

import pytest

from flowyml.artifacts.store import ArtifactStore
from flowyml.core.errors import ArtifactNotFoundError, TransientBackendError
from flowyml.plugins.manager import get_plugin_manager

pytestmark = pytest.mark.aws


@pytest.fixture
def via_proxy(fake) -> dict[str, str]:
    return {"endpoint_url": fake.proxy.endpoint, "region": "us-east-1"}


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
