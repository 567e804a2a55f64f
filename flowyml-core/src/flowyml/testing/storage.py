"""The conformance suite of a :class:`~flowyml.artifacts.storage.Storage`: subclass it in your store's tests.

```python
from flowyml.testing.storage import StorageContract

class TestMyStorage(StorageContract):
    large_size = 12 * 1024 * 1024      # above your store's multipart threshold (shrink it in settings)

    @pytest.fixture
    def storage(self, my_fake_service):
        return MyStorage(f"my://bucket/{uuid.uuid4().hex[:8]}", {"endpoint": my_fake_service.url})
```

Each test gets a fresh, empty root from ``storage``. The suite pins down what flowyml relies on:
whole-object one-shot and streamed writes (nothing visible before commit, nothing left after
an abort), create-only, reads of one consistent object, key rules, and ``list_keys`` taking its
prefix as a folder (``runs/r1`` never lists ``runs/r10/...``).
"""

from __future__ import annotations

__all__ = ["StorageContract", "check_storage", "BAD_KEYS"]

import inspect
import os
import threading
from collections.abc import Callable
from typing import Any

import pytest

from flowyml.artifacts.storage import Storage
from flowyml.artifacts.store import ArtifactStore
from flowyml.core.errors import ArtifactCorruptError, ArtifactError, ArtifactNotFoundError


def _read_all(stream: Any, sizes: tuple[int, ...] = (1, 1000, 65536, 3 * 1024 * 1024 + 7)) -> bytes:
    """Read a stream with ``readinto`` and ``read`` calls of uneven sizes."""
    out = bytearray()
    turn = 0
    while True:
        n = sizes[turn % len(sizes)]
        if turn % 2:
            chunk = stream.read(n)
        else:
            buf = bytearray(n)
            got = stream.readinto(buf)
            chunk = bytes(buf[:got])
        turn += 1
        if not chunk:
            return bytes(out)
        out += chunk


def _write_uneven(stream: Any, data: bytes) -> None:
    view = memoryview(data)
    sizes = (7, 1024 * 1024 + 3, 5 * 1024 * 1024, 100)
    pos, turn = 0, 0
    while pos < len(view):
        n = sizes[turn % len(sizes)]
        stream.write(view[pos : pos + n])
        pos += n
        turn += 1


BAD_KEYS = ["../escape", "/abs", "a//b", "a/./b", "a/../../b", "", "a\\b", "nul\x00"]


class StorageContract:
    """What every flowyml store guarantees. Provide a ``storage`` fixture: a fresh, empty root."""

    #: bytes of the "large" objects: above the store's one-shot threshold (set it low in the fixture)
    large_size: int = 12 * 1024 * 1024

    @pytest.fixture
    def storage(self) -> Storage:
        raise NotImplementedError("subclass StorageContract and provide a `storage` fixture")

    @pytest.fixture
    def large(self) -> bytes:
        return os.urandom(self.large_size)

    # -- one-shot -------------------------------------------------------------------------------
    def test_is_a_storage(self, storage: Storage) -> None:
        assert isinstance(storage, Storage)
        assert "://" in storage.root and not storage.root.endswith("/")

    def test_write_read_exists_uri(self, storage: Storage) -> None:
        assert storage.write_bytes("a/b.bin", b"hello") is True
        assert storage.read_bytes("a/b.bin") == b"hello"
        assert storage.exists("a/b.bin") and not storage.exists("a/c.bin") and not storage.exists("a")
        assert storage.uri("a/b.bin") == f"{storage.root}/a/b.bin"
        assert storage.write_bytes("a/b.bin", b"again") is True  # a plain write replaces
        assert storage.read_bytes("a/b.bin") == b"again"
        assert storage.write_bytes("empty", b"") is True and storage.read_bytes("empty") == b""

    def test_missing_objects(self, storage: Storage) -> None:
        with pytest.raises(ArtifactNotFoundError):
            storage.read_bytes("nope/x")
        with pytest.raises(ArtifactNotFoundError):
            storage.open_read("nope/x")

    def test_create_only_never_replaces(self, storage: Storage) -> None:
        assert storage.write_bytes("once", b"first", create_only=True) is True
        assert storage.write_bytes("once", b"second", create_only=True) is False
        assert storage.read_bytes("once") == b"first"

    def test_racing_create_only_writers_have_one_winner(self, storage: Storage) -> None:
        results: list[bool] = []
        barrier = threading.Barrier(6)

        def write(i: int) -> None:
            barrier.wait()
            results.append(storage.write_bytes("race/obj", f"writer {i}".encode(), create_only=True))

        threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [False] * 5 + [True]
        assert storage.read_bytes("race/obj").startswith(b"writer ")

    @pytest.mark.parametrize("key", BAD_KEYS)
    def test_keys_cannot_escape_the_root(self, storage: Storage, key: str) -> None:
        with pytest.raises(ArtifactError):
            storage.write_bytes(key, b"x")
        with pytest.raises(ArtifactError):
            storage.read_bytes(key)

    # -- listing ------------------------------------------------------------------------------------
    def test_list_keys_takes_the_prefix_as_a_folder(self, storage: Storage) -> None:
        for key in ("runs/r1/a", "runs/r1/b/c", "runs/r10/a", "runs/r1x", "top"):
            storage.write_bytes(key, b".")
        assert storage.list_keys("runs/r1") == ["runs/r1/a", "runs/r1/b/c"]
        assert storage.list_keys("runs/r1/") == ["runs/r1/a", "runs/r1/b/c"]
        assert storage.list_keys("runs") == ["runs/r1/a", "runs/r1/b/c", "runs/r10/a", "runs/r1x"]
        assert storage.list_keys() == ["runs/r1/a", "runs/r1/b/c", "runs/r10/a", "runs/r1x", "top"]
        assert storage.list_keys("") == storage.list_keys()
        assert storage.list_keys("runs/r1/a") == []  # an object is not a folder
        assert storage.list_keys("nothing") == [] and storage.list_keys("runs/r") == []
        with pytest.raises(ArtifactError):
            storage.list_keys("../up")

    # -- streams -----------------------------------------------------------------------------------
    def test_streamed_small_object(self, storage: Storage) -> None:
        with storage.open_write("s/small") as stream:
            stream.write(b"hello ")
            stream.write(bytearray(b"world"))
            stream.write(memoryview(b"!"))
        assert stream.created is True
        assert storage.read_bytes("s/small") == b"hello world!"
        with storage.open_read("s/small") as reader:
            assert reader.size == 12
            assert _read_all(reader) == b"hello world!"

    def test_streamed_large_object_round_trips(self, storage: Storage, large: bytes) -> None:
        with storage.open_write("s/large.bin") as stream:
            assert not storage.exists("s/large.bin")
            _write_uneven(stream, large)
            assert not storage.exists("s/large.bin")  # nothing visible before the commit
        assert stream.created is True
        with storage.open_read("s/large.bin") as reader:
            assert reader.size == len(large)
            assert _read_all(reader) == large
        assert storage.read_bytes("s/large.bin") == large
        assert storage.list_keys("s") == ["s/large.bin"]

    def test_streamed_empty_object(self, storage: Storage) -> None:
        with storage.open_write("s/empty"):
            pass
        with storage.open_read("s/empty") as reader:
            assert reader.size == 0 and reader.read() == b""

    def test_a_failed_stream_leaves_nothing(self, storage: Storage, large: bytes) -> None:
        for key, data in (("f/small", b"partial"), ("f/large", large)):
            with pytest.raises(RuntimeError, match="serializer broke"), storage.open_write(key) as stream:
                stream.write(data)
                raise RuntimeError("serializer broke")
            assert not storage.exists(key)
        assert storage.list_keys("f") == [] and storage.list_keys() == []

    def test_abort_leaves_nothing_and_is_idempotent(self, storage: Storage, large: bytes) -> None:
        stream = storage.open_write("f/aborted")
        stream.write(large)
        stream.abort()
        stream.abort()
        assert not storage.exists("f/aborted") and storage.list_keys() == []

    def test_streamed_create_only(self, storage: Storage, large: bytes) -> None:
        storage.write_bytes("c/small", b"first")
        with storage.open_write("c/small", create_only=True) as stream:
            stream.write(b"second")
        assert stream.created is False and storage.read_bytes("c/small") == b"first"
        with storage.open_write("c/large", create_only=True) as stream:
            stream.write(large)
        assert stream.created is True
        again = storage.open_write("c/large", create_only=True)
        again.write(large[::-1])
        assert again.commit() is False
        assert storage.read_bytes("c/large") == large
        assert storage.list_keys("c") == ["c/large", "c/small"]

    def test_a_reader_closed_early_is_fine(self, storage: Storage, large: bytes) -> None:
        storage.write_bytes("r/large", large)
        reader = storage.open_read("r/large")
        assert reader.read(10) == large[:10]
        reader.close()
        with storage.open_read("r/large") as again:
            assert _read_all(again) == large

    # -- artifacts on top ---------------------------------------------------------------------------
    def test_artifacts_stream_and_verify(self, storage: Storage, large: bytes) -> None:
        store = ArtifactStore(storage.root, storage=storage)
        uri = store.save(large, "models/blob")
        assert uri == f"{storage.root}/models/blob" and store.exists(uri)
        assert store.load(uri) == large
        manifest = store.manifest("models/blob")
        assert manifest["size"] == len(large) and manifest["serializer"] == "bytes"
        tampered = bytearray(large)
        tampered[len(tampered) // 2] ^= 1
        storage.write_bytes(f"models/blob/{manifest['data']}", bytes(tampered))
        with pytest.raises(ArtifactCorruptError):
            store.load(uri)
        storage.write_bytes(f"models/blob/{manifest['data']}", large[:-1])
        with pytest.raises(ArtifactCorruptError):
            store.load(uri)
        assert store.load(store.save({"w": [1, 2]}, "models/small")) == {"w": [1, 2]}
        with pytest.raises(ArtifactNotFoundError):
            store.load("models/missing")


def check_storage(fresh: Callable[[], Storage], large_size: int = StorageContract.large_size) -> list[str]:
    """Run every check of :class:`StorageContract` outside pytest's collection (for another suite,
    e.g. a backend's conformance run against its artifact root). ``fresh()`` returns a new, empty
    root each time it is called. Returns the names of the checks run; the first failure raises."""
    suite = StorageContract()
    large = os.urandom(large_size)
    ran = []
    for name, method in inspect.getmembers(suite, predicate=inspect.ismethod):
        if not name.startswith("test_"):
            continue
        params = inspect.signature(method).parameters
        for key in BAD_KEYS if "key" in params else [None]:
            kwargs: dict[str, Any] = {"storage": fresh()}
            if "large" in params:
                kwargs["large"] = large
            if key is not None:
                kwargs["key"] = key
            method(**kwargs)
        ran.append(name)
    return ran
