"""Checksums computed while the bytes stream: sha256 and CRC-32 on the way to a store, one of them
verified on the way back.

A save records both in the manifest: the sha256 names the content, the CRC-32 (about three times
cheaper to compute) is what a load checks the bytes against, with the size. Both detect a flipped
bit, a truncated or extended object and foreign bytes; a read of an artifact whose manifest has no
CRC-32 (written before it was recorded) checks the sha256, and :meth:`ArtifactStore.verify
<flowyml.artifacts.store.ArtifactStore.verify>` checks the sha256 of any artifact.

Hashing runs on a second thread for large buffers (hashlib and zlib release the GIL), so it overlaps
the I/O instead of adding to it: a save hashes while the bytes are written and flushed to disk,
where a writer waits anyway, and a load, which the page cache often serves at memory speed, pays
for the cheaper checksum only. A buffer handed over with ``*_stable`` must stay unchanged
until :meth:`HashingWriter.finish` / :meth:`VerifyingReader.verify`; plain ``write``/``readinto``
wait for the hash of their buffer before returning, since the caller may reuse it.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from flowyml.artifacts.storage import Buffer, ReadStream, WriteStream
from flowyml.core.errors import ArtifactCorruptError

#: buffers at least this large are hashed on the worker thread
ASYNC_MIN = 1024 * 1024
#: at most this many buffers queued for hashing (bounds what they keep alive)
MAX_PENDING = 4


class Hasher:
    """An ordered sha256 and/or CRC-32 whose large updates run on a worker thread.

    With both, the CRC-32 is computed by the caller's thread and the sha256 by the worker: the two
    run at once (a save's writer thread mostly waits for the disk meanwhile anyway).
    """

    def __init__(self, *, sha256: bool = True, crc32: bool = True) -> None:
        self._sha = hashlib.sha256() if sha256 else None
        self._crc = 0 if crc32 else None
        self._crc_inline = sha256 and crc32
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[None]] = deque()
        self.size = 0

    def update(self, data: Buffer, *, wait: bool = True) -> None:
        """Add ``data``; with ``wait=False`` it may still be read after this returns (keep it unchanged)."""
        n = len(data) if not isinstance(data, memoryview) else data.nbytes
        self.size += n
        if n < ASYNC_MIN and not self._pending:
            self._apply(data)
            return
        if self._crc_inline and self._crc is not None:
            self._crc = zlib.crc32(data, self._crc)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="flowyml-sha256")
        while len(self._pending) >= MAX_PENDING:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._sha.update if self._crc_inline else self._apply, data))  # type: ignore[union-attr]
        if wait:
            self.wait()

    def wait(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def _apply(self, data: Buffer) -> None:
        """One update of every checksum (on the worker thread for large buffers: one at a time, in order)."""
        if self._sha is not None:
            self._sha.update(data)
        if self._crc is not None:
            self._crc = zlib.crc32(data, self._crc)

    def hexdigest(self) -> str:
        """The sha256 (hex) of everything added."""
        self.close()
        assert self._sha is not None, "this hasher computes no sha256"
        return self._sha.hexdigest()

    def crc32(self) -> str:
        """The CRC-32 of everything added, as 8 hex digits."""
        self.close()
        assert self._crc is not None, "this hasher computes no CRC-32"
        return f"{self._crc:08x}"

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


@dataclass(frozen=True)
class Digest:
    """What a save records of the bytes it wrote."""

    size: int
    sha256: str
    crc32: str


class HashingWriter:
    """The sink serializers write to: bytes go to a :class:`WriteStream` and into the sha256."""

    def __init__(self, stream: WriteStream) -> None:
        self.stream = stream
        self.hasher = Hasher()

    def write(self, data: Buffer) -> int:
        view = memoryview(data).cast("B")
        self.hasher.update(view, wait=False)
        try:
            self.stream.write(view)
        finally:
            self.hasher.wait()  # the caller may reuse its buffer once we return
        return len(view)

    def write_stable(self, data: Buffer) -> int:
        """Like :meth:`write`, for a buffer that stays unchanged until :meth:`finish`: no waiting."""
        view = memoryview(data).cast("B")
        self.hasher.update(view, wait=False)
        self.stream.write(view)
        return len(view)

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.hasher.size

    @property
    def closed(self) -> bool:
        return False

    def flush(self) -> None:
        return None

    def finish(self) -> Digest:
        """Size, sha256 and CRC-32 of everything written."""
        return Digest(self.hasher.size, self.hasher.hexdigest(), self.hasher.crc32())

    def close(self) -> None:
        self.hasher.close()


class VerifyingReader:
    """The source deserializers read from: a :class:`ReadStream` checked against a size and a checksum.

    With ``crc32`` (8 hex digits) the bytes are checked against it, else against ``sha256``.
    :meth:`verify` reads what the deserializer left, then raises :class:`ArtifactCorruptError`
    unless exactly ``size`` bytes with the expected checksum came through; callers return the
    object only after it passed.
    """

    def __init__(self, stream: ReadStream, *, size: int, sha256: str, what: str, crc32: str | None = None) -> None:
        self.stream = stream
        self.size = size
        self.sha256 = sha256
        self.crc32 = crc32
        self.what = what
        self.hasher = Hasher(sha256=crc32 is None, crc32=crc32 is not None)

    @property
    def remaining(self) -> int:
        return max(0, self.size - self.hasher.size)

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.hasher.update(data, wait=False)  # bytes are immutable
        return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = self.stream.readinto(view)
        self.hasher.update(view[:n])
        return n

    def readinto_stable(self, buffer: Any) -> int:
        """Like :meth:`readinto`, for memory that stays unchanged until :meth:`verify`: no waiting."""
        view = memoryview(buffer).cast("B")
        n = self.stream.readinto(view)
        self.hasher.update(view[:n], wait=False)
        return n

    def readline(self, limit: int = -1) -> bytes:
        line = bytearray()
        while limit < 0 or len(line) < limit:
            ch = self.read(1)
            if not ch:
                break
            line += ch
            if ch == b"\n":
                break
        return bytes(line)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.hasher.size

    @property
    def closed(self) -> bool:
        return False

    def fill(self, buffer: Any) -> None:
        """Fill ``buffer`` completely (stable memory); :class:`ArtifactCorruptError` if the data ends first."""
        view = memoryview(buffer).cast("B")
        done = 0
        step = 8 * 1024 * 1024
        while done < len(view):
            n = self.readinto_stable(view[done : done + step])
            if n == 0:
                raise ArtifactCorruptError(
                    f"artifact {self.what} is truncated: it ended after {done} of {len(view)} bytes"
                )
            done += n

    def settle(self) -> None:
        """Wait until every buffer handed over so far is hashed (then none of them is referenced)."""
        self.hasher.wait()

    def verify(self) -> None:
        """Read the rest, then check size and sha256 (raises :class:`ArtifactCorruptError`)."""
        while self.read(8 * 1024 * 1024):
            pass
        if self.crc32 is not None:
            kind, expected, got = "crc32", self.crc32.lower(), self.hasher.crc32()
        else:
            kind, expected, got = "sha256", self.sha256, self.hasher.hexdigest()
        size = self.hasher.size
        if size != self.size or got != expected:
            raise ArtifactCorruptError(
                f"artifact {self.what} does not match its manifest (expected {self.size} bytes, {kind} "
                f"{expected[:12]}…; read {size} bytes, {kind} {got[:12]}…)"
            )

    def close(self) -> None:
        self.hasher.close()
