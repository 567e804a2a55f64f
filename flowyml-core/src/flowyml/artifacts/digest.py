"""sha256 computed once, while the bytes stream: on the way to a store, and on the way back (verified).

Hashing runs on a second thread for large buffers (hashlib releases the GIL), so it overlaps
the I/O instead of adding to it. A buffer handed over with ``*_stable`` must stay unchanged
until :meth:`HashingWriter.finish` / :meth:`VerifyingReader.verify`; plain ``write``/``readinto``
wait for the hash of their buffer before returning, since the caller may reuse it.
"""

from __future__ import annotations

import hashlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from flowyml.artifacts.storage import Buffer, ReadStream, WriteStream
from flowyml.core.errors import ArtifactCorruptError

#: buffers at least this large are hashed on the worker thread
ASYNC_MIN = 1024 * 1024
#: at most this many buffers queued for hashing (bounds what they keep alive)
MAX_PENDING = 4


class Hasher:
    """An ordered sha256 whose large updates run on a worker thread."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[None]] = deque()
        self.size = 0

    def update(self, data: Buffer, *, wait: bool = True) -> None:
        """Add ``data``; with ``wait=False`` it may still be read after this returns (keep it unchanged)."""
        n = len(data) if not isinstance(data, memoryview) else data.nbytes
        self.size += n
        if n < ASYNC_MIN and not self._pending:
            self._sha.update(data)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="flowyml-sha256")
        while len(self._pending) >= MAX_PENDING:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._sha.update, data))
        if wait:
            self.wait()

    def wait(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def hexdigest(self) -> str:
        self.close()
        return self._sha.hexdigest()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None


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

    def finish(self) -> tuple[int, str]:
        """(size, sha256 hex) of everything written."""
        return self.hasher.size, self.hasher.hexdigest()

    def close(self) -> None:
        self.hasher.close()


class VerifyingReader:
    """The source deserializers read from: a :class:`ReadStream` checked against a size and sha256.

    :meth:`verify` reads what the deserializer left, then raises :class:`ArtifactCorruptError`
    unless exactly ``size`` bytes with the expected digest came through; callers return the
    object only after it passed.
    """

    def __init__(self, stream: ReadStream, *, size: int, sha256: str, what: str) -> None:
        self.stream = stream
        self.size = size
        self.sha256 = sha256
        self.what = what
        self.hasher = Hasher()

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
        size, digest = self.hasher.size, self.hasher.hexdigest()
        if size != self.size or digest != self.sha256:
            raise ArtifactCorruptError(
                f"artifact {self.what} does not match its manifest (expected {self.size} bytes, sha256 "
                f"{self.sha256[:12]}…; read {size} bytes, sha256 {digest[:12]}…)"
            )

    def close(self) -> None:
        self.hasher.close()
