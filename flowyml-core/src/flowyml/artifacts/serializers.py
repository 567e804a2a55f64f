"""Turning step outputs into a byte stream and back: JSON, raw bytes, numpy, Arrow (pandas), pickle.

Large objects stream without a second in-memory copy: numpy arrays and bytes are written from,
and read into, their own memory; pickle uses protocol 5 with out-of-band buffers (the numpy
blocks of a DataFrame, say, go to the stream as they are); pandas DataFrames go through Arrow's
IPC format when pyarrow is installed.

Pickle executes code on load: only read pickled artifacts from a store you trust (your own
bucket); every other serializer is data-only.
"""

from __future__ import annotations

__all__ = ["Serializer", "JsonSerializer", "BytesSerializer", "NumpySerializer", "PickleSerializer", "ArrowSerializer"]

import io
import json
import pickle
import struct
import sys
from typing import Any, Protocol

from flowyml.core.errors import ArtifactCorruptError

CHUNK = 8 * 1024 * 1024
_PICKLE_MAGIC = b"FLOWYML-PICKLE5\n"  # then: u32 buffer count, u64 sizes, the buffers, the pickle
_OOB_MIN = 64 * 1024  # smaller buffers stay inside the pickle stream


class Sink(Protocol):
    def write(self, data: Any) -> int: ...


class Source(Protocol):
    def read(self, n: int = -1) -> bytes: ...

    def readinto(self, buffer: Any) -> int: ...


def type_name(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def _write_stable(sink: Sink, data: Any) -> None:
    """Write memory that stays unchanged until the save ends, in chunks (hashed while written)."""
    write = getattr(sink, "write_stable", sink.write)
    view = memoryview(data).cast("B")
    for start in range(0, len(view), CHUNK):
        write(view[start : start + CHUNK])


def _fill(source: Source, buffer: Any) -> None:
    fill = getattr(source, "fill", None)
    if fill is not None:
        fill(buffer)
        return
    view = memoryview(buffer).cast("B")
    done = 0
    while done < len(view):
        n = source.readinto(view[done:])
        if not n:
            raise ArtifactCorruptError(f"artifact data ended after {done} of {len(view)} bytes")
        done += n


def _read_exactly(source: Source, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = source.read(n - len(data))
        if not chunk:
            raise ArtifactCorruptError(f"artifact data ended after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)


def _allocated_bytes(size: int) -> tuple[io.BytesIO, memoryview]:
    """A ``bytes`` object of ``size`` filled in place: BytesIO shares its initial buffer, so
    ``getvalue()`` returns it without a copy."""
    holder = io.BytesIO(bytes(size))
    return holder, holder.getbuffer()


class Serializer:
    """One format: ``name`` goes into the manifest, ``ext`` onto the data object's key."""

    name = ""
    ext = "bin"

    def dump(self, obj: Any, sink: Sink) -> None:
        raise NotImplementedError

    def load(self, source: Source, size: int) -> Any:
        raise NotImplementedError


class JsonSerializer(Serializer):
    name, ext = "json", "json"

    def encode(self, obj: Any) -> bytes | None:
        """The JSON bytes of ``obj`` if it comes back equal (tuples, non-str keys would not)."""
        try:
            text = json.dumps(obj, sort_keys=False, allow_nan=True)
            return text.encode() if json.loads(text) == obj else None
        except (TypeError, ValueError, RecursionError):
            return None

    def dump(self, obj: Any, sink: Sink) -> None:
        data = self.encode(obj)
        if data is None:
            raise TypeError(f"{type_name(obj)} does not round-trip through JSON")
        sink.write(data)

    def load(self, source: Source, size: int) -> Any:
        return json.loads(_read_exactly(source, size))


class BytesSerializer(Serializer):
    name, ext = "bytes", "bin"

    def dump(self, obj: Any, sink: Sink) -> None:
        _write_stable(sink, obj)

    def load(self, source: Source, size: int) -> bytes:
        holder, view = _allocated_bytes(size)
        try:
            _fill(source, view)
            settle = getattr(source, "settle", None)
            if settle is not None:
                settle()  # drops the hasher's views of the buffer, so getvalue() needs no copy
        finally:
            view.release()
        return holder.getvalue()


class NumpySerializer(Serializer):
    """The ``.npy`` format, written from and read into the array's own memory (no object dtypes)."""

    name, ext = "numpy", "npy"

    def dump(self, obj: Any, sink: Sink) -> None:
        import numpy as np
        from numpy.lib import format as npy

        fortran = obj.flags.f_contiguous and not obj.flags.c_contiguous
        if not (obj.flags.c_contiguous or fortran):
            npy.write_array(sink, obj, allow_pickle=False)  # strided: numpy copies chunk by chunk
            return
        header = npy.header_data_from_array_1_0(obj)
        try:
            npy.write_array_header_1_0(sink, header)
        except ValueError:  # a header over 64 KiB (very many fields)
            npy.write_array_header_2_0(sink, header)
        if obj.size:
            flat = obj.T.reshape(-1) if fortran else obj.reshape(-1)
            _write_stable(sink, flat.view(np.uint8))

    def load(self, source: Source, size: int) -> Any:
        import numpy as np
        from numpy.lib import format as npy

        try:
            version = npy.read_magic(source)
            if version == (1, 0):
                shape, fortran, dtype = npy.read_array_header_1_0(source)
            else:
                shape, fortran, dtype = npy.read_array_header_2_0(source)
        except ValueError as exc:
            raise ArtifactCorruptError(f"not a numpy array: {exc}") from exc
        if dtype.hasobject:
            raise ArtifactCorruptError("the numpy artifact holds Python objects; flowyml never writes those")
        array = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
        if array.size:
            flat = array.T.reshape(-1) if fortran else array.reshape(-1)
            _fill(source, flat.view(np.uint8))
        return array


class PickleSerializer(Serializer):
    """Pickle protocol 5; large buffers travel out of band, ahead of the pickle stream."""

    name, ext = "pickle", "pkl"

    def dump(self, obj: Any, sink: Sink) -> None:
        buffers: list[pickle.PickleBuffer] = []

        def out_of_band(buf: pickle.PickleBuffer) -> bool:
            try:
                if buf.raw().nbytes < _OOB_MIN:
                    return True  # in band
            except BufferError:  # not contiguous: keep it in the stream
                return True
            buffers.append(buf)
            return False

        body = pickle.dumps(obj, protocol=5, buffer_callback=out_of_band)
        sizes = [b.raw().nbytes for b in buffers]
        sink.write(_PICKLE_MAGIC + struct.pack(f"<I{len(sizes)}Q", len(sizes), *sizes))
        for buf in buffers:
            _write_stable(sink, buf.raw())
        sink.write(body)

    def load(self, source: Source, size: int) -> Any:
        head = _read_exactly(source, min(len(_PICKLE_MAGIC), size))
        if head != _PICKLE_MAGIC:  # a plain pickle (artifacts written before out-of-band buffers)
            return pickle.load(_Prefixed(head, source))
        (count,) = struct.unpack("<I", _read_exactly(source, 4))
        sizes = struct.unpack(f"<{count}Q", _read_exactly(source, 8 * count))
        if sum(sizes) > size:
            raise ArtifactCorruptError("the pickle's buffer table is larger than the artifact")
        buffers = []
        for n in sizes:
            buf = bytearray(n)
            _fill(source, buf)
            buffers.append(buf)
        return pickle.load(source, buffers=buffers)  # type: ignore[arg-type]


class _Prefixed:
    """``head`` (already read) followed by the rest of ``source``."""

    def __init__(self, head: bytes, source: Source) -> None:
        self._head = head
        self._source = source

    def read(self, n: int = -1) -> bytes:
        if not self._head:
            return self._source.read(n)
        if n < 0:
            data, self._head = self._head + self._source.read(), b""
            return data
        data, self._head = self._head[:n], self._head[n:]
        while len(data) < n:
            more = self._source.read(n - len(data))
            if not more:
                break
            data += more
        return data

    def readline(self) -> bytes:
        line = bytearray()
        while not line.endswith(b"\n"):
            ch = self.read(1)
            if not ch:
                break
            line += ch
        return bytes(line)


class ArrowSerializer(Serializer):
    """pandas DataFrames as an Arrow IPC stream (columnar, no code on load); needs pyarrow."""

    name, ext = "arrow", "arrow"

    @staticmethod
    def accepts(frame: Any) -> bool:
        columns = frame.columns
        return columns.nlevels == 1 and columns.is_unique and all(type(c) is str for c in columns)

    def dump(self, obj: Any, sink: Sink) -> None:
        import pyarrow as pa

        table = pa.Table.from_pandas(obj, preserve_index=None)
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=1 << 20)

    def load(self, source: Source, size: int) -> Any:
        import pyarrow as pa

        return pa.ipc.open_stream(source).read_all().to_pandas()


JSON, BYTES, NUMPY, PICKLE, ARROW = (
    JsonSerializer(),
    BytesSerializer(),
    NumpySerializer(),
    PickleSerializer(),
    ArrowSerializer(),
)
#: manifest name -> serializer ("pandas" is what older manifests call a pickled DataFrame)
_ALL: tuple[Serializer, ...] = (JSON, BYTES, NUMPY, PICKLE, ARROW)
SERIALIZERS: dict[str, Serializer] = {**{s.name: s for s in _ALL}, "pandas": PICKLE}
#: serializer name -> file extension
EXTENSIONS = {name: s.ext for name, s in SERIALIZERS.items()}


def choose(obj: Any) -> tuple[Serializer, bytes | None]:
    """The most portable serializer that round-trips ``obj`` (and its bytes, when already made)."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return BYTES, None
    if "numpy" in sys.modules:
        import numpy as np

        if isinstance(obj, np.ndarray) and not obj.dtype.hasobject and type(obj) is np.ndarray:
            return NUMPY, None
    if "pandas" in sys.modules:
        import pandas as pd

        if isinstance(obj, pd.DataFrame) and _pyarrow_ok(obj):
            return ARROW, None
    if isinstance(obj, (dict, list, str, int, float, bool)) or obj is None:
        data = JSON.encode(obj)
        if data is not None:
            return JSON, data
    return PICKLE, None


def _pyarrow_ok(frame: Any) -> bool:
    """Arrow round-trips ``frame`` exactly: plain string column names, and columns (and index) of
    numeric, bool, datetime, category or all-string values. Anything else stays with pickle."""
    import importlib.util

    if not ArrowSerializer.accepts(frame) or importlib.util.find_spec("pyarrow") is None:
        return False
    from pandas.api.types import infer_dtype

    columns = [frame[c] for c in frame.columns]
    if type(frame.index).__name__ != "RangeIndex":
        columns.append(frame.index)
    for col in columns:
        if str(col.dtype) == "category":
            continue
        kind = col.dtype.kind
        if kind == "O" and infer_dtype(col, skipna=True) not in ("string", "empty"):
            return False
        if kind not in "biufcMmO":
            return False
    return True


def get(name: str) -> Serializer:
    try:
        return SERIALIZERS[name]
    except KeyError:
        raise ArtifactCorruptError(f"unknown serializer {name!r} in the manifest") from None


def serialize(obj: Any) -> tuple[str, bytes]:
    """In memory, for small objects and tests: (serializer name, bytes)."""
    serializer, data = choose(obj)
    if data is None:
        buf = io.BytesIO()
        serializer.dump(obj, buf)
        data = buf.getvalue()
    return serializer.name, data


def deserialize(name: str, data: bytes) -> Any:
    return get(name).load(io.BytesIO(data), len(data))
