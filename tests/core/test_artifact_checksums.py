"""What a manifest records of an artifact's bytes, and which checksum each read checks."""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path

import pytest

from flowyml.artifacts import ArtifactStore
from flowyml.core.errors import ArtifactCorruptError

SIZES = {"small": 1000, "large": 6 * 1024 * 1024 + 17}  # inline hashing, and the worker thread's


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore((tmp_path / "store").as_uri())


def _data_path(store: ArtifactStore, key: str) -> Path:
    return store.storage.path / key / store.manifest(key)["data"]  # type: ignore[attr-defined]


def _edit_manifest(store: ArtifactStore, key: str, **changes: object) -> None:
    path = store.storage.path / key / "manifest.json"  # type: ignore[attr-defined]
    doc = json.loads(path.read_text())
    for name, value in changes.items():
        if value is None:
            doc.pop(name, None)
        else:
            doc[name] = value
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_the_manifest_holds_the_sha256_and_crc32_of_the_data_object(store: ArtifactStore, size: int) -> None:
    payload = os.urandom(size)
    store.save(payload, "a")
    data = _data_path(store, "a").read_bytes()
    manifest = store.manifest("a")
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["crc32"] == f"{zlib.crc32(data):08x}"
    assert manifest["size"] == len(data) == size
    assert store.load("a") == payload
    store.verify("a")


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_a_load_checks_the_crc32_and_verify_the_sha256(store: ArtifactStore, size: int) -> None:
    store.save(os.urandom(size), "a")
    good = store.manifest("a")
    _edit_manifest(store, "a", crc32="00000000" if good["crc32"] != "00000000" else "00000001")
    with pytest.raises(ArtifactCorruptError, match="crc32"):
        store.load("a")
    store.verify("a")  # the sha256 still matches
    _edit_manifest(store, "a", crc32=good["crc32"], sha256="0" * 64)
    store.load("a")
    with pytest.raises(ArtifactCorruptError, match="sha256"):
        store.verify("a")


def test_a_manifest_without_crc32_is_checked_against_its_sha256(store: ArtifactStore) -> None:
    payload = os.urandom(SIZES["large"])
    store.save(payload, "old")
    _edit_manifest(store, "old", crc32=None)  # as written before the CRC-32 was recorded
    assert store.load("old") == payload
    path = _data_path(store, "old")
    damaged = bytearray(path.read_bytes())
    damaged[12345] ^= 0x01
    path.write_bytes(bytes(damaged))
    with pytest.raises(ArtifactCorruptError, match="sha256"):
        store.load("old")


@pytest.mark.parametrize("bad", ["xyz", 12345, "0123456789", "GGGGGGGG"])
def test_a_malformed_crc32_is_a_corrupt_manifest(store: ArtifactStore, bad: object) -> None:
    store.save(b"bytes", "a")
    _edit_manifest(store, "a", crc32=bad)
    with pytest.raises(ArtifactCorruptError, match="malformed crc32"):
        store.load("a")
