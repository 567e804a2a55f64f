"""``file://`` storage: temp file + fsync + rename, so readers never see half an object.

A write killed mid-way (SIGKILL, a crash) leaves only its hidden temp file. Later writes to the
same store delete temp files older than ``stale_tmp_seconds`` (default one hour; a store setting),
sweeping the whole store at most once per that period.
"""

from __future__ import annotations

__all__ = ["FileStorage", "STALE_TMP_SECONDS"]

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlparse

from flowyml.artifacts.storage import check_key, folder_prefix
from flowyml.core.atomic import AtomicFile, atomic_write, is_temp_name, remove_stale_temps
from flowyml.core.errors import ArtifactError, ArtifactNotFoundError, ConfigError

STALE_TMP_SECONDS = 3600.0
SWEEP_MARKER = ".flowyml-swept"
_SWEPT: dict[Path, float] = {}  # store root -> when this process last swept it
_SWEPT_LOCK = threading.Lock()


def file_uri_to_path(uri: str) -> Path:
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        return Path(unquote(parsed.path))
    if "://" in uri:
        raise ArtifactError(f"not a file URI: {uri!r}")
    return Path(uri).expanduser()


class FileReader:
    """A :class:`~flowyml.artifacts.storage.ReadStream` on an open file (unbuffered: reads go
    straight into the caller's memory)."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self.size = os.fstat(self._file.fileno()).st_size

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return self._file.readall()
        return self._file.read(n) or b""

    def readinto(self, buffer: Any) -> int:
        return self._file.readinto(buffer) or 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> FileReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class FileStorage:
    """The :class:`~flowyml.artifacts.storage.Storage` of ``file://`` URIs (and plain paths)."""

    def __init__(self, root: str, settings: Mapping[str, Any] | None = None) -> None:
        self.path = file_uri_to_path(root).resolve()
        self.root = self.path.as_uri()
        value = (settings or {}).get("stale_tmp_seconds", STALE_TMP_SECONDS)
        try:
            self.stale_tmp_seconds = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"artifact store setting stale_tmp_seconds: expected seconds, got {value!r}") from None

    def __repr__(self) -> str:
        return f"FileStorage({self.root!r})"

    def _p(self, key: str) -> Path:
        return self.path / check_key(key)

    # -- writes ----------------------------------------------------------------------------------
    def write_bytes(self, key: str, data: bytes, *, create_only: bool = False) -> bool:
        path = self._p(key)
        self._sweep()
        return atomic_write(path, data, exclusive=create_only)

    def open_write(self, key: str, *, create_only: bool = False) -> AtomicFile:
        path = self._p(key)
        self._sweep()
        return AtomicFile(path, exclusive=create_only)

    def append_bytes(self, key: str, data: bytes) -> None:
        """Append (used for log files on the local backend only)."""
        path = self._p(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            f.write(data)

    def remove_stale_temps(self, older_than: float | None = None) -> list[str]:
        """Delete temp files of killed writes older than ``older_than`` seconds (default: the
        store's ``stale_tmp_seconds``); returns their paths relative to the root."""
        grace = self.stale_tmp_seconds if older_than is None else older_than
        if not self.path.is_dir():
            return []
        return sorted(p.relative_to(self.path).as_posix() for p in remove_stale_temps(self.path, grace))

    def _sweep(self) -> None:
        """Remove stale temp files, at most once per grace period per store: the mtime of the
        root's ``.flowyml-swept`` marker says when any process last did (one stat per process)."""
        now = time.monotonic()
        with _SWEPT_LOCK:
            last = _SWEPT.get(self.path)
            if last is not None and now - last < self.stale_tmp_seconds:
                return
            _SWEPT[self.path] = now
        marker = self.path / SWEEP_MARKER
        try:
            if time.time() - marker.stat().st_mtime < self.stale_tmp_seconds:
                return
        except FileNotFoundError:
            pass
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:
            return  # a read-only store: nothing to clean either
        self.remove_stale_temps()

    # -- reads -----------------------------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes:
        try:
            return self._p(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ArtifactNotFoundError(f"no artifact at {self.uri(key)}") from None

    def open_read(self, key: str) -> FileReader:
        path = self._p(key)
        try:
            if path.is_dir():
                raise FileNotFoundError(path)
            return FileReader(path)
        except (FileNotFoundError, NotADirectoryError):
            raise ArtifactNotFoundError(f"no artifact at {self.uri(key)}") from None

    def exists(self, key: str) -> bool:
        return self._p(key).is_file()

    def list_keys(self, prefix: str = "") -> list[str]:
        folder = folder_prefix(prefix)
        base = self.path / folder if folder else self.path
        if not base.is_dir():
            return []
        keys = []
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                if is_temp_name(f) or f == SWEEP_MARKER:
                    continue  # an in-flight (or killed) atomic write; the sweep's marker
                keys.append(Path(dirpath, f).relative_to(self.path).as_posix())
        return sorted(keys)

    def uri(self, key: str) -> str:
        return f"{self.root.rstrip('/')}/{check_key(key)}"
