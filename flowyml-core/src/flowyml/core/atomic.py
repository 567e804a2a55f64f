"""Whole-or-nothing file writes: temp file in the same directory, fsync, rename (or link, for create-only).

A writer killed mid-write (SIGKILL, power loss) leaves its temp file behind, never a partial
target: :func:`remove_stale_temps` deletes such leftovers once they are older than a grace period.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TypeVar

TMP_SUFFIX = ".tmp"
#: start writeback of what was written every this many bytes, so the final fsync has little left to do
_WRITEBACK_EVERY = 32 * 1024 * 1024
_SYNC_FILE_RANGE_WRITE = 2


def _load_sync_file_range() -> object | None:
    """libc's ``sync_file_range`` (Linux), loaded on the first large write.

    The process's own symbols are searched (libc is always loaded): ``ctypes.util.find_library``
    would start ``ldconfig`` in a subprocess, a cost every step-runner paid at import.
    """
    if not hasattr(os, "sched_getaffinity"):  # Linux only
        return None
    import ctypes

    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_SYNC_FILE_RANGE: list[object | None] = []  # [fn or None] once looked up


def _sync_file_range() -> object | None:
    if not _SYNC_FILE_RANGE:
        _SYNC_FILE_RANGE.append(_load_sync_file_range())
    return _SYNC_FILE_RANGE[0]


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of our in-flight temp files (``.<target>.<random>.tmp``)."""
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


_W = TypeVar("_W", bound="CommitOnExit")


class CommitOnExit:
    """A write that a ``with`` block commits on a normal exit and aborts on an exception."""

    def commit(self) -> bool:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self: _W) -> _W:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class AtomicFile(CommitOnExit):
    """A file that appears at ``path`` only on :meth:`commit`, whole; :meth:`abort` leaves no trace.

    Data goes to ``.<name>.<random>.tmp`` beside ``path``; ``commit`` fsyncs it and renames it over
    ``path`` (or, with ``exclusive``, links it there only if ``path`` does not exist yet).
    As a context manager it commits on a normal exit and aborts on an exception.
    """

    def __init__(self, path: Path, *, exclusive: bool = False) -> None:
        self.path = path
        self.exclusive = exclusive
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
        self.tmp = Path(tmp)
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._written = 0
        self._flushed = 0  # bytes whose writeback has been started
        self.created: bool | None = None  # set by commit: True written, False refused (exclusive)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
        total = len(view)
        done = 0
        while done < total:
            done += self._file.write(view[done:]) or 0
        self._written += total
        if self._written - self._flushed >= _WRITEBACK_EVERY:
            sync_range = _sync_file_range()
            if sync_range is not None:
                sync_range(self._file.fileno(), self._flushed, self._written - self._flushed, _SYNC_FILE_RANGE_WRITE)  # type: ignore[operator]
            self._flushed = self._written
        return total

    def commit(self) -> bool:
        """Make the data durable and visible at ``path``; False if ``exclusive`` and it existed."""
        if self.created is not None:
            return self.created
        try:
            os.fsync(self._file.fileno())
            self._file.close()
            if self.exclusive:
                try:
                    os.link(self.tmp, self.path)  # atomic create-only: fails if path exists
                except FileExistsError:
                    self.created = False
                    return False
                finally:
                    os.unlink(self.tmp)
            else:
                os.replace(self.tmp, self.path)
            _fsync_dir(self.path.parent)
        except BaseException:
            self.abort()
            raise
        self.created = True
        return True

    def abort(self) -> None:
        """Discard what was written (idempotent)."""
        if not self._file.closed:
            self._file.close()
        if self.created is None:
            self.created = False
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def atomic_write(path: Path, data: bytes, *, exclusive: bool = False) -> bool:
    """Write ``data`` to ``path`` so readers see the old file, or the whole new one.

    With ``exclusive=True`` the write only happens if ``path`` does not exist yet (create-only);
    returns False when it already existed.
    """
    with AtomicFile(path, exclusive=exclusive) as f:
        f.write(data)
    return bool(f.created)


def remove_stale_temps(root: Path, older_than: float) -> list[Path]:
    """Delete our temp files under ``root`` last modified more than ``older_than`` seconds ago.

    A live writer touches its temp file with every write, so only leftovers of killed writers
    (or ones stalled longer than the grace period) match. Returns the paths removed.
    """
    cutoff = time.time() - older_than
    removed = []
    for path in _temps(root):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:
            continue  # committed or cleaned meanwhile
    return removed


def _temps(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if is_temp_name(name):
                yield Path(dirpath, name)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(fd)


def replace_quickly(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file beside ``path`` and rename it over ``path``, without fsync.

    Readers never see half a file, but a crash may lose the write: only for records whose loss
    is harmless (run summaries, cache sidecars), where an fsync per write would cost more.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}{TMP_SUFFIX}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
