"""The byte-level storage a plugin provides for a URI scheme, and the built-in ``file://`` one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlparse

from flowyml.core.atomic import atomic_write
from flowyml.core.errors import ArtifactError, ArtifactNotFoundError


@runtime_checkable
class Storage(Protocol):
    """Whole-object reads and writes under one root URI. Keys are ``/``-separated relative paths."""

    root: str

    def write_bytes(self, key: str, data: bytes, *, create_only: bool = False) -> bool:
        """Store ``data`` whole or not at all. With ``create_only``, never replace an existing
        object: return False if one is there. Return True when written."""

    def read_bytes(self, key: str) -> bytes:
        """The object's bytes; :class:`ArtifactNotFoundError` if absent."""

    def exists(self, key: str) -> bool:
        """Whether an object is stored at ``key``."""

    def list_keys(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix``, sorted."""

    def uri(self, key: str) -> str:
        """The full URI of ``key``."""


def check_key(key: str) -> str:
    """Refuse keys that could escape the store root (``..``, absolute paths, empty parts)."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key or "\x00" in key:
        raise ArtifactError(f"invalid artifact key {key!r}: keys are relative paths without '..'")
    return key


def file_uri_to_path(uri: str) -> Path:
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        return Path(unquote(parsed.path))
    if "://" in uri:
        raise ArtifactError(f"not a file URI: {uri!r}")
    return Path(uri).expanduser()


class FileStorage:
    """``file://`` storage: temp file + fsync + rename, so readers never see half an object."""

    def __init__(self, root: str) -> None:
        self.path = file_uri_to_path(root).resolve()
        self.root = self.path.as_uri()

    def _p(self, key: str) -> Path:
        return self.path / check_key(key)

    def write_bytes(self, key: str, data: bytes, *, create_only: bool = False) -> bool:
        return atomic_write(self._p(key), data, exclusive=create_only)

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._p(key).read_bytes()
        except FileNotFoundError:
            raise ArtifactNotFoundError(f"no artifact at {self.uri(key)}") from None

    def exists(self, key: str) -> bool:
        return self._p(key).is_file()

    def list_keys(self, prefix: str = "") -> list[str]:
        base = self.path / prefix if prefix else self.path
        if not base.exists():
            return []
        keys = []
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                if f.startswith(".") and f.endswith(".tmp"):
                    continue  # an in-flight atomic write
                keys.append(Path(dirpath, f).relative_to(self.path).as_posix())
        return sorted(keys)

    def uri(self, key: str) -> str:
        return f"{self.root.rstrip('/')}/{check_key(key)}"

    def append_bytes(self, key: str, data: bytes) -> None:
        """Append (used for log files on the local backend only)."""
        path = self._p(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            f.write(data)
