"""``ArtifactStore``: objects in, URIs out — serializer, manifest and checksum on any storage."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

from flowyml.artifacts.serializers import EXTENSIONS, deserialize, serialize, type_name
from flowyml.artifacts.storage import Storage
from flowyml.core.errors import ArtifactCorruptError, ArtifactError, ArtifactNotFoundError

MANIFEST = "manifest.json"


def safe_component(value: str, what: str) -> str:
    """A run id / step / output name used as one path component: no separators, no ``..``."""
    if not value or "/" in value or "\\" in value or value in (".", "..") or "\x00" in value:
        raise ArtifactError(f"invalid {what} {value!r}: it is used in artifact paths")
    return value


class ArtifactStore:
    """Writes each artifact as ``<key>/data-<sha>.<ext>`` plus ``<key>/manifest.json``.

    The data object is content-addressed and written create-only; the manifest (type,
    serializer, size, sha256) is written last, atomically. An artifact exists once its manifest
    does, and a read checks the bytes against the manifest, so no reader ever gets half an
    artifact or a silently corrupted one.
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
        return "/".join(
            [
                "runs",
                safe_component(run_id, "run id"),
                "outputs",
                safe_component(step_name, "step name"),
                safe_component(name, "output name"),
            ]
        )

    def key_of(self, uri_or_key: str) -> str:
        root = self.uri.rstrip("/") + "/"
        if uri_or_key.startswith(root):
            return uri_or_key[len(root) :]
        if "://" in uri_or_key:
            raise ArtifactError(f"{uri_or_key!r} is not in the artifact store {self.uri!r}")
        return uri_or_key

    # -- objects -----------------------------------------------------------------------------
    def save(self, obj: Any, key: str, **extra: Any) -> str:
        """Write ``obj`` under ``key``; returns the artifact URI."""
        serializer, data = serialize(obj)
        digest = hashlib.sha256(data).hexdigest()
        data_key = f"{key}/data-{digest[:16]}.{EXTENSIONS[serializer]}"
        self.storage.write_bytes(data_key, data, create_only=True)  # same name => same bytes
        manifest = {
            "type": type_name(obj),
            "serializer": serializer,
            "size": len(data),
            "sha256": digest,
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
        key = self.key_of(uri_or_key).rstrip("/")
        try:
            return json.loads(self.storage.read_bytes(f"{key}/{MANIFEST}"))
        except ArtifactNotFoundError:
            raise ArtifactNotFoundError(f"no artifact at {self.storage.uri(key)}") from None

    def load(self, uri_or_key: str) -> Any:
        """Read an artifact back, verifying size and sha256 against its manifest."""
        key = self.key_of(uri_or_key).rstrip("/")
        manifest = self.manifest(key)
        data = self.storage.read_bytes(f"{key}/{manifest['data']}")
        if len(data) != manifest["size"] or hashlib.sha256(data).hexdigest() != manifest["sha256"]:
            raise ArtifactCorruptError(
                f"artifact {self.storage.uri(key)} does not match its manifest "
                f"(expected {manifest['size']} bytes, sha256 {manifest['sha256'][:12]}…)"
            )
        return deserialize(manifest["serializer"], data)

    def load_output(self, run_id: str, step_name: str, name: str) -> Any:
        return self.load(self.output_key(run_id, step_name, name))

    def exists(self, uri_or_key: str) -> bool:
        return self.storage.exists(f"{self.key_of(uri_or_key).rstrip('/')}/{MANIFEST}")

    # -- small JSON documents (job specs, unit results) ----------------------------------------
    def write_json(self, key: str, doc: Any, *, create_only: bool = False) -> bool:
        return self.storage.write_bytes(key, json.dumps(doc, sort_keys=True).encode(), create_only=create_only)

    def read_json(self, key: str) -> Any:
        return json.loads(self.storage.read_bytes(self.key_of(key)))


def store_for_root(artifact_root: str, settings: Mapping[str, Any] | None = None) -> ArtifactStore:
    """The artifact store of a job spec's ``artifact_root``."""
    return ArtifactStore(artifact_root, settings)
