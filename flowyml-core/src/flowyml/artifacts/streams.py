"""Building blocks for the streams of object stores: parallel part uploads and parallel ranged reads.

A store subclasses :class:`PartWriter` (one-shot put for small objects, else parts uploaded by a
few threads, then one publishing call) and :class:`RangeReader` (ranged GETs fetched ahead by a
few threads, handed out in order). Memory stays bounded: at most ``concurrency + 1`` parts, or
``window`` chunks, are held at once.
"""

from __future__ import annotations

__all__ = ["PartWriter", "RangeReader", "BufferedWriter", "BytesReader", "MiB", "READ_CHUNK"]

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from flowyml.artifacts.storage import Buffer
from flowyml.core.atomic import CommitOnExit

MiB = 1024 * 1024
#: ranged reads are at most this large (window x chunk bounds a reader's memory)
READ_CHUNK = 8 * MiB


class PartWriter(CommitOnExit):
    """A :class:`~flowyml.artifacts.storage.WriteStream` that uploads in parts.

    Subclasses implement :meth:`_put` (the whole object in one request: objects smaller than
    ``threshold``), and for larger ones :meth:`_begin`, :meth:`_upload_part` (called from worker
    threads, at most ``concurrency`` at once; in order when ``concurrency`` is 1),
    :meth:`_complete` and :meth:`_cancel`.
    """

    def __init__(self, *, part_size: int, threshold: int, concurrency: int, create_only: bool) -> None:
        self.part_size = part_size
        self.threshold = max(threshold, 1)
        self.concurrency = max(1, concurrency)
        self.create_only = create_only
        self.created: bool | None = None
        self._buf = bytearray()
        self._parts: list[Future[Any]] = []
        self._pool: ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(self.concurrency)
        self._error: BaseException | None = None
        self._closed = False

    # -- what a store implements ---------------------------------------------------------------
    def _put(self, data: bytes) -> bool:
        raise NotImplementedError

    def _begin(self) -> None:
        raise NotImplementedError

    def _upload_part(self, number: int, data: bytearray) -> Any:
        raise NotImplementedError

    def _complete(self, parts: list[Any]) -> bool:
        raise NotImplementedError

    def _cancel(self) -> None:
        raise NotImplementedError

    def _part_size(self, number: int) -> int:
        """The size of part ``number`` (1-based); stores with a part-count limit grow it."""
        return self.part_size

    # -- the stream ------------------------------------------------------------------------------
    def write(self, data: Buffer) -> int:
        if self._closed:
            raise ValueError("write to a committed or aborted stream")
        self._raise_failed()
        view = memoryview(data).cast("B")
        if self._pool is None:
            if len(self._buf) + len(view) <= self.threshold:
                self._buf += view
                return len(view)
            self._begin()
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="flowyml-upload")
            buffered, self._buf = self._buf, bytearray()
            self._feed(memoryview(buffered))
        self._feed(view)
        return len(view)

    def _feed(self, view: memoryview) -> None:
        start = 0
        while start < len(view):
            size = self._part_size(len(self._parts) + 1)
            chunk = view[start : start + size - len(self._buf)]
            self._buf += chunk
            start += len(chunk)
            if len(self._buf) >= size:
                self._ship()

    def _ship(self) -> None:
        """Hand the buffered bytes to a worker as the next part (blocks while all workers are busy)."""
        assert self._pool is not None
        part, self._buf = self._buf, bytearray()
        self._slots.acquire()
        self._raise_failed()
        future = self._pool.submit(self._upload_part, len(self._parts) + 1, part)
        future.add_done_callback(self._part_done)
        self._parts.append(future)

    def _part_done(self, future: Future[Any]) -> None:
        self._slots.release()
        if not future.cancelled() and future.exception() is not None and self._error is None:
            self._error = future.exception()

    def _raise_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def commit(self) -> bool:
        if self.created is not None and self._closed:
            return self.created
        self._closed = True
        try:
            if self._pool is None:
                self.created = self._put(bytes(self._buf))
                return self.created
            if self._buf or not self._parts:
                self._ship()
            tokens = [f.result() for f in self._parts]
            self.created = self._complete(tokens)
            return self.created
        except BaseException:
            self._cancel_parts()
            raise
        finally:
            self._buf = bytearray()
            if self._pool is not None:
                self._pool.shutdown(wait=True)

    def abort(self) -> None:
        if self._closed and self.created is not None:
            return
        self._closed = True
        if self.created is None:
            self.created = False
        self._buf = bytearray()
        self._cancel_parts()

    def _cancel_parts(self) -> None:
        if self._pool is None:
            return
        for future in self._parts:
            future.cancel()
        self._pool.shutdown(wait=True)
        self._cancel()


class RangeReader:
    """A :class:`~flowyml.artifacts.storage.ReadStream` over ranged reads fetched ahead in parallel.

    Subclasses implement :meth:`_fetch` (``length`` bytes at ``start`` of one pinned version of
    the object; thread-safe). Objects no larger than ``chunk`` are fetched inline.
    """

    def __init__(self, size: int, *, chunk: int, window: int) -> None:
        self.size = size
        self.chunk = max(chunk, 1)
        self.window = max(window, 1)
        self._next = 0  # offset of the next range to request
        self._ahead: deque[Future[bytes]] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self._current = memoryview(b"")
        self._pos = 0  # bytes handed out so far
        self.closed = False

    def _fetch(self, start: int, length: int) -> bytes:
        raise NotImplementedError

    def _fill_window(self) -> None:
        assert self._pool is not None
        while len(self._ahead) < self.window and self._next < self.size:
            length = min(self.chunk, self.size - self._next)
            self._ahead.append(self._pool.submit(self._checked_fetch, self._next, length))
            self._next += length

    def _checked_fetch(self, start: int, length: int) -> bytes:
        data = self._fetch(start, length)
        if len(data) != length:
            from flowyml.core.errors import ArtifactError

            raise ArtifactError(f"short read: {len(data)} bytes at offset {start}, expected {length}")
        return data

    def _advance(self) -> bool:
        """Make the next chunk current; False at the end."""
        if self._pos >= self.size:
            return False
        if self._pool is None and self.size <= self.chunk:
            self._current = memoryview(self._checked_fetch(0, self.size))
            self._next = self.size
            return True
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.window, thread_name_prefix="flowyml-download")
        self._fill_window()
        data = self._ahead.popleft().result()
        self._fill_window()
        self._current = memoryview(data)
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        done = 0
        while done < len(target):
            if not self._current and not self._advance():
                break
            n = min(len(self._current), len(target) - done)
            target[done : done + n] = self._current[:n]
            self._current = self._current[n:]
            done += n
            self._pos += n
        return done

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self._pos
        if not self._current and not self._advance():
            return b""
        if len(self._current) >= n:  # one chunk holds it: no intermediate buffer
            data = bytes(self._current[:n])
            self._current = self._current[n:]
            self._pos += n
            return data
        out = bytearray(min(n, self.size - self._pos))
        got = self.readinto(out)
        return bytes(out[:got])

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for future in self._ahead:
            future.cancel()
        self._ahead.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._current = memoryview(b"")

    def __enter__(self) -> RangeReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class BufferedWriter(CommitOnExit):
    """The :class:`~flowyml.artifacts.storage.WriteStream` of a store that only has ``write_bytes``:
    collects the bytes in memory and writes them in one call on commit."""

    def __init__(self, write_bytes: Callable[[bytes, bool], bool], create_only: bool) -> None:
        self._write_bytes = write_bytes
        self._create_only = create_only
        self._buf = bytearray()
        self.created: bool | None = None

    def write(self, data: Buffer) -> int:
        self._buf += data
        return len(data)

    def commit(self) -> bool:
        if self.created is None:
            self.created = self._write_bytes(bytes(self._buf), self._create_only)
            self._buf = bytearray()
        return self.created

    def abort(self) -> None:
        self._buf = bytearray()
        if self.created is None:
            self.created = False


class BytesReader(RangeReader):
    """The :class:`~flowyml.artifacts.storage.ReadStream` of bytes already in memory."""

    def __init__(self, data: bytes) -> None:
        super().__init__(len(data), chunk=max(len(data), 1), window=1)
        self._data = data

    def _fetch(self, start: int, length: int) -> bytes:
        return self._data[start : start + length]
