"""``ArtifactStore``: objects in, URIs out — serializer, manifest and checksum on any storage."""

from __future__ import annotations

__all__ = ["ArtifactStore"]

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from flowyml.artifacts import serializers
from flowyml.artifacts.digest import HashingWriter, VerifyingReader
from flowyml.artifacts.storage import ReadStream, Storage, WriteStream
from flowyml.artifacts.streams import BufferedWriter, BytesReader
from flowyml.core.errors import ArtifactCorruptError, ArtifactError, ArtifactNotFoundError

MANIFEST = "manifest.json"
#: data objects up to this size are read with one ``read_bytes`` call instead of a stream
SMALL = 4 * 1024 * 1024


class ArtifactStore:
    """Objects in, URIs out: each artifact is ``<key>/data-<id>.<ext>`` plus ``<key>/manifest.json``.

    The object streams through its serializer into the storage while its sha256 is computed;
    the data object is written create-only, then the manifest (type, serializer, size, sha256)
    is written last, atomically. An artifact exists once its manifest does, and a read checks the
    bytes against the manifest as they stream, raising :class:`ArtifactCorruptError` before the
    object is returned. No reader ever gets half an artifact or a silently corrupted one.

    >>> store = ArtifactStore("file:///tmp/flowyml-artifacts")      # or s3://, gs://, abfs://, ...
    >>> uri = store.save({"weights": [0.5, 1.5]}, "models/m1")
    >>> store.load(uri)
    {'weights': [0.5, 1.5]}
    """

    def __init__(self, uri: str, settings: Mapping[str, Any] | None = None, *, storage: Storage | None = None) -> None:
        if storage is None:
            from flowyml.plugins.manager import get_plugin_manager

            storage = get_plugin_manager().storage(uri, settings or {})
        self.storage = storage
        self.uri = storage.root

    def __repr__(self) -> str:
        return f"ArtifactStore({self.uri!r})"

    # -- keys --------------------------------------------------------------------------------
    @staticmethod
    def output_key(run_id: str, step_name: str, name: str) -> str:
        from flowyml.orchestrators.layout import RunLayout

        return RunLayout(run_id).output(step_name, name)

    def key_of(self, uri_or_key: str) -> str:
        root = self.uri.rstrip("/") + "/"
        if uri_or_key.startswith(root):
            return uri_or_key[len(root) :]
        if "://" in uri_or_key:
            raise ArtifactError(f"{uri_or_key!r} is not in the artifact store {self.uri!r}")
        return uri_or_key

    # -- objects -----------------------------------------------------------------------------
    def save(self, obj: Any, key: str, **extra: Any) -> str:
        """Write ``obj`` under ``key`` (a ``/``-separated path); returns the artifact's URI.

        ``extra`` keys go into the manifest. Saving to an existing key replaces the artifact.
        """
        key = self.key_of(key).rstrip("/")
        serializer, encoded = serializers.choose(obj)
        data_key = f"{key}/data-{uuid.uuid4().hex[:16]}.{serializer.ext}"
        with _open_write(self.storage, data_key) as stream:
            sink = HashingWriter(stream)
            try:
                if encoded is not None:
                    sink.write(encoded)
                else:
                    serializer.dump(obj, sink)
                digest = sink.finish()
            finally:
                sink.close()
        if not stream.created:  # a fresh random name was taken: never point a manifest at others' bytes
            raise ArtifactError(f"could not create {self.storage.uri(data_key)}: an object is already there")
        manifest = {
            "type": serializers.type_name(obj),
            "serializer": serializer.name,
            "size": digest.size,
            "sha256": digest.sha256,
            "crc32": digest.crc32,
            "data": data_key.rsplit("/", 1)[1],
            "created_at": time.time(),
            **extra,
        }
        self.storage.write_bytes(f"{key}/{MANIFEST}", json.dumps(manifest, sort_keys=True).encode())
        return self.storage.uri(key)

    def materialize(self, obj: Any, name: str, run_id: str, step_name: str, project_name: str = "default") -> str:
        """Store one step output (the seed's signature); returns its URI."""
        return self.save(
            obj,
            self.output_key(run_id, step_name, name),
            run_id=run_id,
            step=step_name,
            name=name,
            project=project_name,
        )

    def manifest(self, uri_or_key: str) -> dict[str, Any]:
        """The artifact's manifest: ``type``, ``serializer``, ``size``, ``sha256``, ``crc32`` (what a load
        checks; absent from artifacts written before it was recorded), ``data``, ``created_at`` and the
        extra keys it was saved with."""
        key = self.key_of(uri_or_key).rstrip("/")
        try:
            doc = json.loads(self.storage.read_bytes(f"{key}/{MANIFEST}"))
        except ArtifactNotFoundError:
            raise ArtifactNotFoundError(f"no artifact at {self.storage.uri(key)}") from None
        except ValueError as exc:
            raise ArtifactCorruptError(f"the manifest of {self.storage.uri(key)} is not JSON: {exc}") from exc
        if not isinstance(doc, dict) or not {"serializer", "size", "sha256", "data"} <= set(doc):
            raise ArtifactCorruptError(f"the manifest of {self.storage.uri(key)} lacks serializer/size/sha256/data")
        return doc

    def load(self, uri_or_key: str) -> Any:
        """Read an artifact back, verifying size and sha256 against its manifest as it streams."""
        key = self.key_of(uri_or_key).rstrip("/")
        manifest = self.manifest(key)
        serializer = serializers.get(manifest["serializer"])
        data_key = f"{key}/{manifest['data']}"
        size = int(manifest["size"])
        where = self.storage.uri(key)
        stream = BytesReader(self.storage.read_bytes(data_key)) if size <= SMALL else _open_read(self.storage, data_key)
        source = VerifyingReader(
            stream, size=size, sha256=manifest["sha256"], crc32=_crc32(manifest, where), what=where
        )
        try:
            try:
                obj = serializer.load(source, size)
            except ArtifactCorruptError:
                source.verify()  # the digest names the problem better when it differs
                raise
            except Exception as exc:
                source.verify()  # corrupted bytes explain a failed decode: say so
                raise ArtifactError(f"cannot read artifact {where} ({manifest['serializer']}): {exc}") from exc
            source.verify()
        finally:
            source.close()
            stream.close()
        return obj

    def verify(self, uri_or_key: str) -> None:
        """Check the artifact's bytes against the sha256 (and size) of its manifest, reading them once;
        raises :class:`ArtifactCorruptError` if they differ. ``load`` checks the cheaper CRC-32."""
        key = self.key_of(uri_or_key).rstrip("/")
        manifest = self.manifest(key)
        stream = _open_read(self.storage, f"{key}/{manifest['data']}")
        source = VerifyingReader(
            stream, size=int(manifest["size"]), sha256=manifest["sha256"], what=self.storage.uri(key)
        )
        try:
            source.verify()
        finally:
            source.close()
            stream.close()

    def load_output(self, run_id: str, step_name: str, name: str) -> Any:
        return self.load(self.output_key(run_id, step_name, name))

    def exists(self, uri_or_key: str) -> bool:
        return self.storage.exists(f"{self.key_of(uri_or_key).rstrip('/')}/{MANIFEST}")

    # -- small JSON documents (job specs, unit results) ----------------------------------------
    def write_json(self, key: str, doc: Any, *, create_only: bool = False) -> bool:
        return self.storage.write_bytes(key, json.dumps(doc, sort_keys=True).encode(), create_only=create_only)

    def read_json(self, key: str) -> Any:
        return json.loads(self.storage.read_bytes(self.key_of(key)))


def _crc32(manifest: Mapping[str, Any], where: str) -> str | None:
    """The manifest's CRC-32 (8 hex digits), None if it has none; corrupt if it is malformed."""
    value = manifest.get("crc32")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 8 or any(c not in "0123456789abcdef" for c in value.lower()):
        raise ArtifactCorruptError(f"the manifest of {where} has a malformed crc32: {value!r}")
    return value


def _open_write(storage: Storage, key: str) -> WriteStream:
    """``storage.open_write``, or an in-memory stream for a storage that only writes whole objects."""
    if hasattr(storage, "open_write"):
        return storage.open_write(key, create_only=True)
    return BufferedWriter(lambda data, create_only: storage.write_bytes(key, data, create_only=create_only), True)


def _open_read(storage: Storage, key: str) -> ReadStream:
    if hasattr(storage, "open_read"):
        return storage.open_read(key)
    return BytesReader(storage.read_bytes(key))


def store_for_root(artifact_root: str, settings: Mapping[str, Any] | None = None) -> ArtifactStore:
    """The artifact store of a job spec's ``artifact_root``."""
    return ArtifactStore(artifact_root, settings)
