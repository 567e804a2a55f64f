"""The byte-level storage a plugin provides for a URI scheme: the :class:`Storage` protocol and its key rules.

A store is registered per scheme as a factory ``factory(uri, settings) -> Storage``; the built-in
``file://`` one is :class:`flowyml.artifacts.files.FileStorage`.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from flowyml.core.errors import ArtifactError

if TYPE_CHECKING:
    from flowyml.artifacts.files import FileStorage

Buffer = bytes | bytearray | memoryview


class WriteStream(Protocol):
    """An object being written: nothing is visible at its key until :meth:`commit`.

    As a context manager it commits on a normal exit (the outcome is then in ``created``) and
    aborts on an exception.
    """

    created: bool | None

    def write(self, data: Buffer) -> int:
        """Append ``data`` (the stream copies what it keeps: the caller may reuse its buffer)."""

    def commit(self) -> bool:
        """Publish the object whole. With ``create_only``, False (and nothing changed) if an object
        was already there; True when published."""

    def abort(self) -> None:
        """Discard everything written; idempotent."""

    def __enter__(self) -> WriteStream: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class ReadStream(Protocol):
    """One stored object read front to back; all its bytes come from one version of the object."""

    size: int

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all that is left for ``-1``); ``b""`` at the end."""

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` (a writable bytes-like object) as far as possible; 0 at the end."""

    def close(self) -> None: ...

    def __enter__(self) -> ReadStream: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


@runtime_checkable
class Storage(Protocol):
    """Objects under one root URI. Keys are ``/``-separated relative paths (see :func:`check_key`).

    One-shot calls for small objects (manifests, specs, results) and streams for large ones;
    a stream write of a small object ends in the same single request as ``write_bytes``.
    """

    root: str

    def write_bytes(self, key: str, data: bytes, *, create_only: bool = False) -> bool:
        """Store ``data`` whole or not at all. With ``create_only``, never replace an existing
        object: return False if one is there. Return True when written."""

    def read_bytes(self, key: str) -> bytes:
        """The object's bytes; :class:`~flowyml.core.errors.ArtifactNotFoundError` if absent."""

    def open_write(self, key: str, *, create_only: bool = False) -> WriteStream:
        """A stream whose bytes become the object at ``key`` on commit (same guarantees as ``write_bytes``)."""

    def open_read(self, key: str) -> ReadStream:
        """A stream of the object's bytes; :class:`~flowyml.core.errors.ArtifactNotFoundError` if absent."""

    def exists(self, key: str) -> bool:
        """Whether an object is stored at ``key``."""

    def list_keys(self, prefix: str = "") -> list[str]:
        """The keys under the folder ``prefix``, sorted (see :func:`folder_prefix`)."""

    def uri(self, key: str) -> str:
        """The full URI of ``key``."""


def check_key(key: str) -> str:
    """Refuse keys that could escape the store root (``..``, absolute paths, empty parts)."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key or "\x00" in key:
        raise ArtifactError(f"invalid artifact key {key!r}: keys are relative paths without '..'")
    return key


#: a key segment starting with this is the store's own bookkeeping (temporary parts, markers):
#: never listed by ``list_keys``
INTERNAL_PREFIX = ".flowyml-"


def is_internal_key(key: str) -> bool:
    return any(part.startswith(INTERNAL_PREFIX) for part in key.split("/"))


def folder_prefix(prefix: str) -> str:
    """The listing prefix of ``list_keys(prefix)``: ``""`` for everything, else ``"<prefix>/"``.

    A prefix names a folder, cut at a ``/`` boundary: ``runs/r1`` (or ``runs/r1/``) lists
    ``runs/r1/...`` and never ``runs/r10/...``; an object stored at exactly ``runs/r1`` is not
    under it. Every store implements this rule; :class:`flowyml.testing.storage.StorageContract`
    checks it.
    """
    folder = prefix.strip("/")
    return f"{check_key(folder)}/" if folder else ""


def __getattr__(name: str) -> Any:
    if name == "FileStorage":  # its old home; kept importable from here
        from flowyml.artifacts.files import FileStorage

        return FileStorage
    raise AttributeError(name)


__all__ = [
    "INTERNAL_PREFIX",
    "Buffer",
    "FileStorage",
    "ReadStream",
    "Storage",
    "WriteStream",
    "check_key",
    "folder_prefix",
    "is_internal_key",
]
