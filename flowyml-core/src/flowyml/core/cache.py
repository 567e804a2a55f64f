"""The step cache: results keyed by step code, inputs and context, persisted across processes."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

from flowyml.core.atomic import atomic_write
from flowyml.core.errors import FlowymlError


class CacheWriteError(FlowymlError):
    """A step's result could not be stored in the cache (it is never silently dropped)."""


def stable_digest(value: Any) -> str:
    """A sha256 of ``value``'s pickle (falls back to ``repr`` for unpicklable values)."""
    try:
        payload = pickle.dumps(value, protocol=4)
    except Exception:
        payload = repr(value).encode()
    return hashlib.sha256(payload).hexdigest()


_MISS = object()


class FileCacheStore:
    """Pickled step results under ``<flowyml home>/cache`` (one file per key, written atomically)."""

    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            from flowyml.home import flowyml_home

            root = flowyml_home() / "cache"
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.pkl"

    def get(self, key: str, default: Any = None) -> Any:
        """The cached value, or ``default`` on a miss (also when an entry is unreadable)."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return default
        try:
            return pickle.loads(data)["value"]
        except Exception:
            path.unlink(missing_ok=True)  # a corrupt entry is a miss, and is removed
            return default

    def contains(self, key: str) -> bool:
        return self._path(key).exists()

    def lookup(self, key: str) -> tuple[bool, Any]:
        """(hit, value): unlike ``get`` this tells a cached ``None`` from a miss."""
        value = self.get(key, _MISS)
        return (value is not _MISS, None if value is _MISS else value)

    def set_value(self, key: str, value: Any, step_name: str = "", code_hash: str = "") -> None:
        """Store a result; raises :class:`CacheWriteError` if it cannot be pickled or written."""
        try:
            data = pickle.dumps({"value": value, "step": step_name, "code_hash": code_hash}, protocol=4)
        except Exception as exc:
            raise CacheWriteError(f"cannot cache the output of step {step_name!r}: {exc}") from exc
        try:
            atomic_write(self._path(key), data)
        except OSError as exc:
            raise CacheWriteError(f"cannot write the cache entry for step {step_name!r}: {exc}") from exc

    def clear(self) -> None:
        for path in self.root.glob("*/*.pkl"):
            path.unlink(missing_ok=True)
