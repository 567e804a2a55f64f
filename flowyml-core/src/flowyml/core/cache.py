"""The step cache: results keyed by step code, inputs and context, persisted across processes."""

from __future__ import annotations

__all__ = ["CacheStore", "FileCacheStore", "CacheWriteError", "stable_digest"]

import hashlib
import io
import json
import pickle
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from flowyml.core.atomic import atomic_write, replace_quickly
from flowyml.core.errors import FlowymlError


class CacheWriteError(FlowymlError):
    """A step's result could not be stored in the cache (it is never silently dropped)."""


_SCALARS = (str, bytes, int, float, bool, type(None))
#: Containers up to this size are walked item by item; larger ones are pickled whole (fast).
_WALK_LIMIT = 256


def _encode(value: Any, out: list[bytes], depth: int = 0) -> None:
    """Append a canonical encoding of ``value``: equal values give equal bytes, whatever their identity.

    Small containers are walked here (dicts and sets in sorted order, so neither insertion order
    nor string hashing matters); anything else is pickled on its own without pickle's memo, so
    two equal objects never differ by being shared or not.
    """
    if depth > 100:
        raise RecursionError("value nests too deeply to be a cache key")
    kind = type(value)
    if kind in _SCALARS:
        out.append(f"{kind.__name__}:{value!r};".encode())
    elif kind in (list, tuple, dict, set, frozenset) and len(value) > _WALK_LIMIT:
        whole = sorted(value, key=repr) if kind in (set, frozenset) else value
        out.append(kind.__name__.encode() + b":" + _pickle_without_memo(whole) + b";")
    elif kind in (list, tuple):
        out.append(f"{kind.__name__}[{len(value)}](".encode())
        for item in value:
            _encode(item, out, depth + 1)
        out.append(b")")
    elif kind is dict:
        parts = []
        for k, v in value.items():
            pair: list[bytes] = []
            _encode(k, pair, depth + 1)
            _encode(v, pair, depth + 1)
            parts.append(b"".join(pair))
        out.append(b"dict{" + b"".join(sorted(parts)) + b"}")
    elif kind in (set, frozenset):
        parts = []
        for item_value in value:
            encoded: list[bytes] = []
            _encode(item_value, encoded, depth + 1)
            parts.append(b"".join(encoded))
        out.append(kind.__name__.encode() + b"{" + b"".join(sorted(parts)) + b"}")
    else:
        out.append(b"obj:" + _pickle_without_memo(value) + b";")


def _pickle_without_memo(value: Any) -> bytes:
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=4)
    pickler.fast = True  # no memo: shared and distinct-but-equal sub-objects pickle the same
    try:
        pickler.dump(value)
    except (ValueError, RecursionError):  # a self-referencing object: the memo is needed
        return pickle.dumps(value, protocol=4)
    return buf.getvalue()


def stable_digest(value: Any) -> str:
    """A sha256 of ``value``'s canonical encoding (``repr`` for what cannot be pickled).

    A pure function of values: an input loaded back from the cache or the artifact store gives
    the same digest as the object it was saved from.
    """
    out: list[bytes] = []
    try:
        _encode(value, out)
        payload = b"".join(out)
    except Exception:
        payload = repr(value).encode()
    return hashlib.sha256(payload).hexdigest()


_MISS = object()


class FileCacheStore:
    """Pickled step results under ``<flowyml home>/cache`` (one file per key, written atomically).

    Next to each entry a small JSON file records its step, code hash, size and creation time, so
    :meth:`stats` and :meth:`invalidate` never unpickle values. ``hits`` and ``misses`` count the
    lookups this object answered.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        if root is None:
            from flowyml.home import flowyml_home

            root = flowyml_home() / "cache"
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    @property
    def cache_dir(self) -> Path:
        return self.root

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.pkl"

    def _read(self, key: str, default: Any) -> Any:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return default
        try:
            return pickle.loads(data)["value"]
        except Exception:
            self._remove(key)  # a corrupt entry is a miss, and is removed
            return default

    def get(self, key: str, default: Any = None) -> Any:
        """The cached value, or ``default`` on a miss (also when an entry is unreadable)."""
        hit, value = self.lookup(key)
        return value if hit else default

    def _counted(self, value: Any, miss: Any) -> Any:
        if value is miss:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def contains(self, key: str) -> bool:
        return self._path(key).exists()

    def lookup(self, key: str) -> tuple[bool, Any]:
        """(hit, value): unlike ``get`` this tells a cached ``None`` from a miss."""
        value = self._counted(self._read(key, _MISS), _MISS)
        return (value is not _MISS, None if value is _MISS else value)

    def set_value(self, key: str, value: Any, step_name: str = "", code_hash: str = "", **_: Any) -> None:
        """Store a result; raises :class:`CacheWriteError` if it cannot be pickled or written."""
        try:
            data = pickle.dumps({"value": value, "step": step_name, "code_hash": code_hash}, protocol=4)
        except Exception as exc:
            raise CacheWriteError(f"cannot cache the output of step {step_name!r}: {exc}") from exc
        meta = {"step_name": step_name, "code_hash": code_hash, "size_bytes": len(data), "created_at": time.time()}
        try:
            atomic_write(self._path(key), data)
            replace_quickly(self._path(key).with_suffix(".json"), json.dumps(meta).encode())  # losing it is harmless
        except OSError as exc:
            raise CacheWriteError(f"cannot write the cache entry for step {step_name!r}: {exc}") from exc

    def _entries(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(key, metadata) of every entry; entries written without metadata report an unknown step."""
        for path in self.root.glob("*/*.pkl"):
            try:
                meta = json.loads(path.with_suffix(".json").read_text())
            except (OSError, ValueError):
                meta = {"step_name": "", "size_bytes": _size(path), "created_at": _mtime(path)}
            yield path.stem, meta

    def _remove(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)

    def invalidate(
        self, key: str | None = None, step_name: str | None = None, before: datetime | str | float | None = None
    ) -> int:
        """Remove one key, or every entry of ``step_name`` and/or created ``before`` a time; returns the count."""
        if key is not None:
            existed = self.contains(key)
            self._remove(key)
            return int(existed)
        cutoff = _timestamp(before)
        match: Callable[[dict[str, Any]], bool] = lambda meta: (  # noqa: E731
            (step_name is None or meta.get("step_name") == step_name)
            and (cutoff is None or float(meta.get("created_at", 0)) < cutoff)
        )
        doomed = [k for k, meta in self._entries() if match(meta)]
        for k in doomed:
            self._remove(k)
        return len(doomed)

    def stats(self) -> dict[str, Any]:
        """Entries, size, this object's hits/misses/hit rate, and entries per step (FlowyML's keys)."""
        total_size = 0
        by_step: dict[str, dict[str, int]] = {}
        entries = 0
        for _key, meta in self._entries():
            entries += 1
            size = int(meta.get("size_bytes", 0))
            total_size += size
            step = by_step.setdefault(meta.get("step_name") or "", {"count": 0, "size_bytes": 0})
            step["count"] += 1
            step["size_bytes"] += size
        lookups = self.hits + self.misses
        return {
            "total_entries": entries,
            "total_size_mb": total_size / (1024 * 1024),
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hits / lookups if lookups else 0.0,
            "by_step": by_step,
        }

    def clear(self) -> None:
        for path in self.root.glob("*/*.pkl"):
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)


class CacheStore(FileCacheStore):
    """FlowyML's name and constructor: ``CacheStore(cache_dir)``; ``get(key)`` is ``None`` on a miss."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        super().__init__(cache_dir)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _timestamp(value: datetime | str | float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"before={value!r}: expected an ISO date such as '2026-01-31' or a datetime") from None
    return value.timestamp()
