"""Artifacts on ``file://``: streaming serializers, verification while reading, the file store's
contract, and temp files of killed writers cleaned by later writes."""

from __future__ import annotations

import io
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowyml.artifacts import ArtifactStore
from flowyml.artifacts.files import SWEEP_MARKER, FileStorage
from flowyml.artifacts.serializers import deserialize, serialize
from flowyml.core.errors import ArtifactCorruptError, ArtifactError
from flowyml.testing.storage import StorageContract

np = pytest.importorskip("numpy")


class TestFileStorage(StorageContract):
    large_size = 9 * 1024 * 1024

    @pytest.fixture
    def storage(self, tmp_path: Path) -> FileStorage:
        return FileStorage((tmp_path / "store").as_uri())


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore((tmp_path / "store").as_uri())


ARRAYS = {
    "c-order": lambda: np.arange(3 * 1024 * 1024, dtype=np.float64).reshape(1024, -1),
    "fortran": lambda: np.asfortranarray(np.arange(60, dtype=np.int32).reshape(6, 10)),
    "strided": lambda: np.arange(100, dtype=np.int16).reshape(10, 10)[:, ::3],
    "0-d": lambda: np.array(3.5),
    "empty": lambda: np.zeros((0, 4)),
    "datetime": lambda: np.array(["2026-01-01", "2026-06-30"], dtype="datetime64[D]"),
    "structured": lambda: np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "i4"), ("b", "f8")]),
    "bool": lambda: np.array([True, False, True]),
}


@pytest.mark.parametrize("name", ARRAYS)
def test_numpy_arrays_round_trip_exactly(store: ArtifactStore, name: str) -> None:
    array = ARRAYS[name]()
    back = store.load(store.save(array, f"arrays/{name}"))
    assert type(back) is np.ndarray and back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array)
    assert back.flags.writeable
    assert store.manifest(f"arrays/{name}")["serializer"] == "numpy"
    data = store.storage.read_bytes(f"arrays/{name}/{store.manifest(f'arrays/{name}')['data']}")
    assert np.array_equal(np.load(io.BytesIO(data)), array)  # a plain .npy file: numpy reads it


def test_object_arrays_go_to_pickle(store: ArtifactStore) -> None:
    array = np.array([{"a": 1}, None], dtype=object)
    back = store.load(store.save(array, "objects"))
    assert list(back) == [{"a": 1}, None] and store.manifest("objects")["serializer"] == "pickle"


def test_values_choose_the_most_portable_serializer(store: ArtifactStore) -> None:
    cases = [
        ({"w": [1, 2], "name": "m"}, "json"),
        ([1.5, None, "x"], "json"),
        ((1, 2), "pickle"),  # JSON would give a list back
        ({1: "a"}, "pickle"),  # JSON would give "1" back
        (b"\x00raw", "bytes"),
        (bytearray(b"mutable"), "bytes"),
        ({1, 2, 3}, "pickle"),
    ]
    for i, (value, serializer) in enumerate(cases):
        back = store.load(store.save(value, f"v/{i}"))
        assert back == value, value
        assert store.manifest(f"v/{i}")["serializer"] == serializer, value


def test_pickle_sends_large_buffers_out_of_band(store: ArtifactStore) -> None:
    big = np.arange(2 * 1024 * 1024, dtype=np.float64)
    value = {"weights": big, "small": np.arange(3), "meta": ("x", 1)}
    back = store.load(store.save(value, "oob"))
    assert np.array_equal(back["weights"], big) and back["meta"] == ("x", 1)
    back["weights"][0] = 42.0  # the buffers come back writable
    manifest = store.manifest("oob")
    raw = store.storage.read_bytes(f"oob/{manifest['data']}")
    assert raw.startswith(b"FLOWYML-PICKLE5\n")
    count = int.from_bytes(raw[16:20], "little")
    assert count == 1 and int.from_bytes(raw[20:28], "little") == big.nbytes  # the small array stayed in band


def test_plain_pickles_of_older_artifacts_still_load() -> None:
    assert deserialize("pickle", pickle.dumps((1, "two"), protocol=5)) == (1, "two")
    assert deserialize("pandas", pickle.dumps([3], protocol=4)) == [3]
    name, data = serialize((1, 2))
    assert name == "pickle" and deserialize(name, data) == (1, 2)


def _tamper(store: ArtifactStore, key: str, change) -> None:  # type: ignore[no-untyped-def]
    manifest = store.manifest(key)
    path = store.storage.path / key / manifest["data"]  # type: ignore[attr-defined]
    path.write_bytes(change(path.read_bytes()))


@pytest.mark.parametrize(
    "value",
    [
        np.arange(1024 * 1024, dtype=np.float64),
        b"x" * (5 * 1024 * 1024),
        {"t": (1, 2), "a": np.ones(100000)},
        {"j": [1]},
    ],
    ids=["numpy", "bytes", "pickle", "json"],
)
@pytest.mark.parametrize("damage", ["flip", "truncate", "extend", "garbage"])
def test_damaged_data_is_an_artifact_corrupt_error(store: ArtifactStore, value: object, damage: str) -> None:
    def flip(data: bytes) -> bytes:
        b = bytearray(data)
        b[len(b) // 2] ^= 0xFF
        return bytes(b)

    change = {
        "flip": flip,
        "truncate": lambda d: d[: len(d) // 2],
        "extend": lambda d: d + b"more",
        "garbage": lambda d: os.urandom(len(d)),
    }[damage]
    store.save(value, "victim")
    _tamper(store, "victim", change)
    with pytest.raises(ArtifactCorruptError, match=r"does not match its manifest|truncated"):
        store.load("victim")


def test_a_manifest_that_is_not_json_is_corrupt(store: ArtifactStore) -> None:
    store.save([1], "m")
    store.storage.write_bytes("m/manifest.json", b"{not json")
    with pytest.raises(ArtifactCorruptError, match="not JSON"):
        store.load("m")


def test_resaving_replaces_the_artifact(store: ArtifactStore) -> None:
    store.save([1], "k")
    store.save(np.arange(3), "k")
    assert np.array_equal(store.load("k"), np.arange(3))


def test_a_serializer_error_publishes_nothing(store: ArtifactStore) -> None:
    class Unpicklable:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            raise TypeError("no pickling for you")

    with pytest.raises(TypeError, match="no pickling"):
        store.save(Unpicklable(), "bad")
    assert not store.exists("bad") and store.storage.list_keys() == []


# -- temp files of killed writers -----------------------------------------------------------------
KILLED_WRITER = """
import sys, time
from flowyml.artifacts.files import FileStorage
storage = FileStorage(sys.argv[1])
stream = storage.open_write("runs/r1/outputs/train/model/data.bin")
chunk = b"x" * (1024 * 1024)
stream.write(chunk)
print("writing", flush=True)
while True:
    stream.write(chunk)
    time.sleep(0.01)
"""


def test_sigkill_mid_write_exposes_nothing_and_later_writes_clean_up(tmp_path: Path) -> None:
    root = (tmp_path / "store").as_uri()
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, root], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
        time.sleep(0.1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    storage = FileStorage(root, {"stale_tmp_seconds": 30})
    folder = tmp_path / "store/runs/r1/outputs/train/model"
    temps = list(folder.glob(".data.bin.*.tmp"))
    assert len(temps) == 1 and temps[0].stat().st_size >= 1024 * 1024
    assert not storage.exists("runs/r1/outputs/train/model/data.bin") and storage.list_keys() == []

    storage.write_bytes("other/key", b"v")  # within the grace period (and the killed writer's sweep): kept
    assert temps[0].exists()
    old = time.time() - 60
    os.utime(temps[0], (old, old))
    os.utime(tmp_path / "store" / SWEEP_MARKER, (old, old))  # the last sweep was a minute ago
    later = (
        "import sys; from flowyml.artifacts.files import FileStorage as F; "
        "F(sys.argv[1], {'stale_tmp_seconds': 30}).write_bytes('other/key2', b'v')"
    )
    subprocess.run([sys.executable, "-c", later, root], check=True, timeout=60)  # a later write (e.g. the next step)
    assert not temps[0].exists()
    assert storage.list_keys() == ["other/key", "other/key2"]


def test_a_live_writer_keeps_its_temp_file(tmp_path: Path) -> None:
    storage = FileStorage((tmp_path / "s").as_uri(), {"stale_tmp_seconds": 0})
    stream = storage.open_write("a/live")
    stream.write(b"in progress")
    assert storage.remove_stale_temps(older_than=30) == []
    stream.write(b" and done")
    assert stream.commit() is True and storage.read_bytes("a/live") == b"in progress and done"
    leftover = tmp_path / "s/b/.dead.x1.tmp"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"killed")
    os.utime(leftover, (time.time() - 10, time.time() - 10))
    assert storage.remove_stale_temps(older_than=5) == ["b/.dead.x1.tmp"]


def test_bad_grace_setting_is_a_clear_error(tmp_path: Path) -> None:
    from flowyml.core.errors import ConfigError

    with pytest.raises(ConfigError, match="stale_tmp_seconds"):
        FileStorage(tmp_path.as_uri(), {"stale_tmp_seconds": "soon"})


def test_non_file_uris_are_refused() -> None:
    with pytest.raises(ArtifactError, match="not a file URI"):
        FileStorage("s3://bucket/x")


def test_the_python_on_the_artifacts_reference_page_runs(tmp_path: Path) -> None:
    import re

    page = Path(__file__).resolve().parents[2] / "docs/reference/artifacts.md"
    blocks = re.findall(r"^```python\n(.*?)^```\s*$", page.read_text(), re.M | re.S)
    assert blocks
    script = tmp_path / "page.py"
    script.write_text("\n\n".join(blocks))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_dataframes_go_through_arrow_when_pyarrow_is_installed(store: ArtifactStore) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(
        {
            "x": np.arange(5, dtype=np.int64),
            "y": np.linspace(0, 1, 5),
            "name": ["a", "b", None, "d", "e"],
            "when": pd.date_range("2026-01-01", periods=5),
            "kind": pd.Categorical(["u", "v", "u", "v", "u"]),
        },
        index=pd.Index([10, 20, 30, 40, 50], name="id"),
    )
    back = store.load(store.save(frame, "frames/arrow"))
    assert store.manifest("frames/arrow")["serializer"] == "arrow"
    pd.testing.assert_frame_equal(back, frame)
    mixed = pd.DataFrame({"v": [1, "two", 3.0]})  # Arrow cannot hold this column as it is
    int_names = pd.DataFrame({0: [1], 1: [2]})  # Arrow would turn the names into strings
    for i, other in enumerate((mixed, int_names, frame["y"])):
        again = store.load(store.save(other, f"frames/pickled{i}"))
        assert store.manifest(f"frames/pickled{i}")["serializer"] == "pickle"
        assert again.equals(other)


def test_check_storage_runs_the_whole_suite_for_other_kits(tmp_path: Path) -> None:
    from flowyml.testing.storage import StorageContract, check_storage

    roots = iter(range(1000))
    ran = check_storage(lambda: FileStorage((tmp_path / f"r{next(roots)}").as_uri()), large_size=6 * 1024 * 1024)
    assert set(ran) == {n for n in dir(StorageContract) if n.startswith("test_")}

    class LosesData(FileStorage):  # a broken store fails the check
        def list_keys(self, prefix: str = "") -> list[str]:
            return super().list_keys(prefix.rstrip("/"))[:-1]

    with pytest.raises(AssertionError):
        check_storage(lambda: LosesData((tmp_path / f"b{next(roots)}").as_uri()), large_size=6 * 1024 * 1024)
