"""``gs://bucket/prefix`` storage: whole-object writes; create-only via ``if_generation_match=0``.

A GCS object write is atomic (readers see the old object or the new one, never part of one),
and the generation precondition makes "create only" a server-side check: two writers racing
for the same key cannot both win. Settings: ``endpoint`` (or ``api_endpoint``; default
``$STORAGE_EMULATOR_HOST``, else Google), ``project``, ``anonymous`` ("true" for emulators;
implied by an ``http://`` endpoint), and for streams ``part_size_mb`` (default 16),
``threshold_mb`` (default 16) and ``max_concurrency`` (default 8).

Streams: an object up to ``threshold_mb`` is one upload. A larger one is a composed upload:
its parts are uploaded in parallel as temporary objects under ``<root>/.flowyml-parts/``, composed
(32 at a time, a tree for more) into the object with the create-only precondition on the last
compose, then deleted. Reads are ranged downloads of the generation the read started with,
``max_concurrency`` fetched ahead.
"""

from __future__ import annotations

__all__ = ["GCSStorage"]

import logging
import os
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flowyml.artifacts.storage import INTERNAL_PREFIX, check_key, folder_prefix, is_internal_key
from flowyml.artifacts.streams import READ_CHUNK, MiB, PartWriter, RangeReader
from flowyml.core.errors import ArtifactError, ArtifactNotFoundError, AuthError, ConfigError
from flowyml.plugins.clients import ClientCache
from flowyml_gcp.errors import CREDENTIALS_HINT

_CLIENTS: ClientCache[Any] = ClientCache()
PARTS = f"{INTERNAL_PREFIX}parts"
COMPOSE_MAX = 32  # sources per compose request (a GCS limit)
log = logging.getLogger("flowyml.gcp")


def _int_setting(settings: Mapping[str, Any], name: str, default: int) -> int:
    value = settings.get(name, default)
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        raise ConfigError(f"gs:// store setting {name}: expected a whole number, got {value!r}") from None


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
    return _CLIENTS.get((endpoint, project, anonymous), lambda: _new_client(endpoint, project, anonymous))


def _new_client(endpoint: str | None, project: str | None, anonymous: bool) -> Any:
    from google.cloud.storage import Client

    kwargs: dict[str, Any] = {"project": project}
    if endpoint:
        kwargs["client_options"] = {"api_endpoint": endpoint}
    if anonymous:
        from google.auth.credentials import AnonymousCredentials

        kwargs["credentials"] = AnonymousCredentials()
        kwargs["project"] = project or "flowyml-local"
    try:
        return Client(**kwargs)
    except Exception as exc:  # no Application Default Credentials here: say what to set
        from google.auth import exceptions as auth_exc

        if isinstance(exc, auth_exc.DefaultCredentialsError):
            raise AuthError(f"gs:// artifact store: no Google credentials found: {CREDENTIALS_HINT}") from exc
        raise


class GCSStorage:
    """The :class:`flowyml.artifacts.storage.Storage` for ``gs://``."""

    def __init__(self, root: str, settings: Mapping[str, Any] | None = None) -> None:
        self.bucket_name, self.prefix = split_uri(root.rstrip("/"))
        self.root = f"gs://{self.bucket_name}" + (f"/{self.prefix}" if self.prefix else "")
        self.settings = dict(settings or {})
        self._client = storage_client(self.settings)
        self._bucket = self._client.bucket(self.bucket_name)
        self.part_size = _int_setting(self.settings, "part_size_mb", 16) * MiB
        self.threshold = _int_setting(self.settings, "threshold_mb", 16) * MiB
        self.concurrency = _int_setting(self.settings, "max_concurrency", 8)

    def __repr__(self) -> str:
        return f"GCSStorage({self.root!r})"

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    def write_bytes(self, key: str, data: bytes, *, create_only: bool = False) -> bool:
        if len(data) > self.threshold:
            with self.open_write(key, create_only=create_only) as stream:
                stream.write(data)
            return bool(stream.created)
        return self._put(self._name(key), data, create_only, self.uri(key))

    def _put(self, name: str, data: bytes | bytearray, create_only: bool, what: str) -> bool:
        from google.api_core import exceptions as gexc
        from google.cloud.storage.retry import DEFAULT_RETRY

        blob = self._bucket.blob(name)
        try:
            if create_only:
                # Server-side "does not exist yet": 412 if any generation is there already.
                blob.upload_from_string(bytes(data), content_type="application/octet-stream", if_generation_match=0)
            else:
                # Rewriting the same key with the same bytes is idempotent for flowyml, so retry it.
                blob.upload_from_string(bytes(data), content_type="application/octet-stream", retry=DEFAULT_RETRY)
        except gexc.PreconditionFailed:
            return False
        except gexc.GoogleAPICallError as exc:
            raise ArtifactError(f"cannot write {what}: {exc}") from exc
        return True

    def open_write(self, key: str, *, create_only: bool = False) -> GCSWriter:
        return GCSWriter(self, key, create_only)

    def open_read(self, key: str) -> GCSReader:
        from google.api_core import exceptions as gexc

        try:
            blob = self._bucket.get_blob(self._name(key))
        except gexc.GoogleAPICallError as exc:
            raise ArtifactError(f"cannot read {self.uri(key)}: {exc}") from exc
        if blob is None:
            raise ArtifactNotFoundError(f"no artifact at {self.uri(key)}")
        return GCSReader(self, key, int(blob.size or 0), int(blob.generation))

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
        search = base + folder_prefix(prefix)
        try:
            names = [b.name for b in self._client.list_blobs(self.bucket_name, prefix=search)]
        except gexc.NotFound:
            return []
        except gexc.GoogleAPICallError as exc:
            raise ArtifactError(f"cannot list {self.root}/{prefix}: {exc}") from exc
        keys = (n[len(base) :] for n in names if not n.endswith("/"))
        return sorted(k for k in keys if not is_internal_key(k))


class GCSWriter(PartWriter):
    """One upload up to the threshold, else parallel part objects composed into the object."""

    def __init__(self, storage: GCSStorage, key: str, create_only: bool) -> None:
        super().__init__(
            part_size=storage.part_size,
            threshold=storage.threshold,
            concurrency=storage.concurrency,
            create_only=create_only,
        )
        self.storage = storage
        self.key = key
        self.name = storage._name(key)
        self._parts_dir = storage._name(f"{PARTS}/{uuid.uuid4().hex}")
        self._made: list[str] = []  # every temporary object created (parts and intermediates)
        self._exists = False
        self._lock = threading.Lock()

    def _put(self, data: bytes) -> bool:
        return self.storage._put(self.name, data, self.create_only, self.storage.uri(self.key))

    def _begin(self) -> None:
        self._exists = self.create_only and self.storage.exists(self.key)  # then upload nothing

    def _temp(self, name: str) -> str:
        with self._lock:
            self._made.append(name)
        return name

    def _upload_part(self, number: int, data: bytearray) -> str:
        if self._exists:
            return ""
        name = self._temp(f"{self._parts_dir}/{number:06d}")
        self.storage._put(name, data, False, f"part {number} of {self.storage.uri(self.key)}")
        return name

    def _compose(self, sources: list[str], target: str, create_only: bool) -> bool:
        from google.api_core import exceptions as gexc
        from google.cloud.storage.retry import DEFAULT_RETRY

        bucket = self.storage._bucket
        blob = bucket.blob(target)
        blob.content_type = "application/octet-stream"
        try:
            if create_only:
                blob.compose([bucket.blob(s) for s in sources], if_generation_match=0)
            else:
                blob.compose([bucket.blob(s) for s in sources], retry=DEFAULT_RETRY)
        except gexc.PreconditionFailed:
            return False
        except gexc.GoogleAPICallError as exc:
            raise ArtifactError(f"cannot compose {self.storage.uri(self.key)}: {exc}") from exc
        return True

    def _complete(self, parts: list[Any]) -> bool:
        if self._exists:
            return False
        names: list[str] = list(parts)
        level = 0
        try:
            while len(names) > COMPOSE_MAX:  # a tree: 32 parts per intermediate object
                level += 1
                groups = [names[i : i + COMPOSE_MAX] for i in range(0, len(names), COMPOSE_MAX)]
                targets = [self._temp(f"{self._parts_dir}/L{level}-{i:06d}") for i in range(len(groups))]
                with ThreadPoolExecutor(self.concurrency) as pool:
                    list(pool.map(lambda group, target: self._compose(group, target, False), groups, targets))
                names = targets
            return self._compose(names, self.name, self.create_only)
        finally:
            self._cancel()

    def _cancel(self) -> None:
        """Delete the temporary objects (best effort: a failed delete leaves a part, never the object)."""
        from google.api_core import exceptions as gexc

        with self._lock:
            made, self._made = self._made, []
        if not made:
            return
        bucket = self.storage._bucket

        def delete(name: str) -> None:
            try:
                bucket.blob(name).delete()
            except gexc.NotFound:
                pass
            except gexc.GoogleAPICallError as exc:
                log.warning("could not delete the temporary part %s: %s", name, exc)

        with ThreadPoolExecutor(self.concurrency) as pool:
            list(pool.map(delete, made))


class GCSReader(RangeReader):
    """Ranged downloads of one generation of the object, fetched ahead in parallel."""

    def __init__(self, storage: GCSStorage, key: str, size: int, generation: int) -> None:
        super().__init__(size, chunk=min(storage.part_size, READ_CHUNK), window=storage.concurrency)
        self.storage = storage
        self.key = key
        self.generation = generation

    def _fetch(self, start: int, length: int) -> bytes:
        from google.api_core import exceptions as gexc
        from google.cloud.storage.retry import DEFAULT_RETRY

        blob = self.storage._bucket.blob(self.storage._name(self.key), generation=self.generation)
        try:
            return bytes(
                blob.download_as_bytes(start=start, end=start + length - 1, checksum=None, retry=DEFAULT_RETRY)
            )
        except gexc.NotFound:
            raise ArtifactError(f"{self.storage.uri(self.key)} was replaced or deleted while being read") from None
        except gexc.GoogleAPICallError as exc:
            raise ArtifactError(f"cannot read {self.storage.uri(self.key)}: {exc}") from exc
