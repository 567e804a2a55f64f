"""``gs://bucket/prefix`` storage: whole-object writes; create-only via ``if_generation_match=0``.

A GCS object write is atomic (readers see the old object or the new one, never part of one),
and the generation precondition makes "create only" a server-side check: two writers racing
for the same key cannot both win. Settings: ``endpoint`` (or ``api_endpoint``; default
``$STORAGE_EMULATOR_HOST``, else Google), ``project``, ``anonymous`` ("true" for emulators;
implied by an ``http://`` endpoint).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from flowyml.artifacts.storage import check_key
from flowyml.core.errors import ArtifactError, ArtifactNotFoundError

_CLIENTS: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()


def split_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> (``bucket``, ``a/b``)."""
    if not uri.startswith("gs://"):
        raise ArtifactError(f"not a gs:// URI: {uri!r}")
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise ArtifactError(f"gs:// URI without a bucket: {uri!r}")
    return bucket, prefix.strip("/")


def storage_client(settings: Mapping[str, Any]) -> Any:
    """A ``google.cloud.storage.Client`` for these settings (one per endpoint and project)."""
    endpoint = settings.get("endpoint") or settings.get("api_endpoint") or os.environ.get("STORAGE_EMULATOR_HOST")
    project = settings.get("project") or settings.get("project_id")
    anonymous = str(settings.get("anonymous", "")).lower() in ("1", "true", "yes") or bool(
        endpoint and str(endpoint).startswith("http://")
    )
    key = (endpoint, project, anonymous)
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            from google.cloud import storage

            kwargs: dict[str, Any] = {"project": project}
            if endpoint:
                kwargs["client_options"] = {"api_endpoint": endpoint}
            if anonymous:
                from google.auth.credentials import AnonymousCredentials

                kwargs["credentials"] = AnonymousCredentials()
                kwargs["project"] = project or "flowyml-local"
            client = _CLIENTS[key] = storage.Client(**kwargs)
        return client


class GCSStorage:
    """The :class:`flowyml.artifacts.storage.Storage` for ``gs://``."""

    def __init__(self, root: str, settings: Mapping[str, Any] | None = None) -> None:
        self.bucket_name, self.prefix = split_uri(root.rstrip("/"))
        self.root = f"gs://{self.bucket_name}" + (f"/{self.prefix}" if self.prefix else "")
        self.settings = dict(settings or {})
        self._client = storage_client(self.settings)
        self._bucket = self._client.bucket(self.bucket_name)

    def __repr__(self) -> str:
        return f"GCSStorage({self.root!r})"

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    def write_bytes(self, key: str, data: bytes, *, create_only: bool = False) -> bool:
        from google.api_core import exceptions as gexc
        from google.cloud.storage.retry import DEFAULT_RETRY

        blob = self._bucket.blob(self._name(key))
        try:
            if create_only:
                # Server-side "does not exist yet": 412 if any generation is there already.
                blob.upload_from_string(data, content_type="application/octet-stream", if_generation_match=0)
            else:
                # Rewriting the same key with the same bytes is idempotent for flowyml, so retry it.
                blob.upload_from_string(data, content_type="application/octet-stream", retry=DEFAULT_RETRY)
        except gexc.PreconditionFailed:
            return False
        except gexc.GoogleAPICallError as exc:
            raise ArtifactError(f"cannot write {self.uri(key)}: {exc}") from exc
        return True

    def read_bytes(self, key: str) -> bytes:
        from google.api_core import exceptions as gexc

        try:
            return self._bucket.blob(self._name(key)).download_as_bytes()
        except gexc.NotFound:
            raise ArtifactNotFoundError(f"no artifact at {self.uri(key)}") from None
        except gexc.GoogleAPICallError as exc:
            raise ArtifactError(f"cannot read {self.uri(key)}: {exc}") from exc

    def exists(self, key: str) -> bool:
        from google.api_core import exceptions as gexc

        try:
            return bool(self._bucket.blob(self._name(key)).exists())
        except gexc.GoogleAPICallError as exc:
            raise ArtifactError(f"cannot look up {self.uri(key)}: {exc}") from exc

    def list_keys(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` taken as a folder (``a/b`` lists ``a/b/...``, not ``a/bc``)."""
        from google.api_core import exceptions as gexc

        base = f"{self.prefix}/" if self.prefix else ""
        folder = prefix.strip("/")
        search = base + (folder + "/" if folder else "")
        try:
            names = [b.name for b in self._client.list_blobs(self.bucket_name, prefix=search)]
        except gexc.NotFound:
            return []
        except gexc.GoogleAPICallError as exc:
            raise ArtifactError(f"cannot list {self.root}/{folder}: {exc}") from exc
        return sorted(n[len(base) :] for n in names if not n.endswith("/"))
