"""Blob Storage for flowyml artifacts: whole-object writes, create-only with ``If-None-Match: *``.

Settings (``artifact_store.settings`` in ``flowyml.yaml``; all non-secret, they travel to jobs):

* ``account_url``: the Blob endpoint (default: derived from the URI's account). Tests use it to
  point at Azurite.
* ``connection_string_env``: the NAME of an environment variable holding a connection string
  (the secret itself never enters flowyml's settings, job specs or run records).
* ``credential``: without a connection string, how to get a token (``default``, ``cli``,
  ``managed_identity``, ``environment``, ``workload_identity`` or ``module:factory``).
* ``ca_bundle``: a PEM file to trust; ``authority_host``: AAD authority for sovereign clouds.
* ``block_size_mb`` (default 8), ``threshold_mb`` (default 8), ``max_concurrency`` (default 8):
  streams. An object up to the threshold is one Put Blob; a larger one is staged as blocks,
  ``max_concurrency`` in parallel, then committed with one Put Block List (with
  ``If-None-Match: *`` for create-only), so it appears whole. Blocks of an abandoned upload are
  never committed (Azure drops uncommitted blocks after a week). Reads are ranged downloads
  pinned to the ETag the read started with, ``max_concurrency`` fetched ahead.
"""

from __future__ import annotations

__all__ = ["BlobStorage", "SETTINGS"]

import base64
import os
import uuid
from collections.abc import Mapping
from typing import Any

from flowyml.artifacts.storage import check_key, folder_prefix
from flowyml.artifacts.streams import MiB, PartWriter, RangeReader
from flowyml.core.errors import ArtifactError, ArtifactNotFoundError, ConfigError
from flowyml.plugins.clients import ClientCache
from flowyml_azure.client import retrying
from flowyml_azure.credentials import resolve_credential
from flowyml_azure.uris import BlobLocation, parse

SETTINGS = (
    "account_url",
    "connection_string_env",
    "credential",
    "ca_bundle",
    "authority_host",
    "block_size_mb",
    "threshold_mb",
    "max_concurrency",
)
_CLIENTS: ClientCache[Any] = ClientCache()  # container clients by (root, settings)


def _service_client(location: BlobLocation, settings: Mapping[str, Any]) -> Any:
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ConfigError(
            f"Blob artifact store settings: unknown key(s) {', '.join(unknown)}; known: {', '.join(SETTINGS)}"
        )
    from azure.storage.blob import BlobServiceClient

    options: dict[str, Any] = {"retry_total": 0}
    if settings.get("ca_bundle"):
        options["connection_verify"] = settings["ca_bundle"]
    env_name = settings.get("connection_string_env")
    if env_name:
        value = os.environ.get(str(env_name))
        if not value:
            raise ConfigError(
                f"Blob artifact store: environment variable {env_name} (connection_string_env) is not set"
            )
        if settings.get("account_url"):
            return BlobServiceClient(str(settings["account_url"]), credential=_key_from(value), **options)
        return BlobServiceClient.from_connection_string(value, **options)
    account_url = settings.get("account_url") or location.default_account_url
    if not account_url:
        raise ConfigError(
            f"{location.root!r} names no storage account: use abfs://<container>@<account>.dfs.core.windows.net/..., "
            "or set account_url / connection_string_env in the artifact store settings"
        )
    credential = resolve_credential(str(settings.get("credential") or "default"), settings.get("authority_host"))
    return BlobServiceClient(str(account_url), credential=credential, **options)


def _key_from(connection_string: str) -> Any:
    """The shared-key credential inside a connection string (for an explicit account_url)."""
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    if "AccountName" in parts and "AccountKey" in parts:
        return {"account_name": parts["AccountName"], "account_key": parts["AccountKey"]}
    if "SharedAccessSignature" in parts:
        return parts["SharedAccessSignature"]
    raise ConfigError("the connection string has neither AccountName/AccountKey nor SharedAccessSignature")


def _int_setting(settings: Mapping[str, Any], name: str, default: int) -> int:
    value = settings.get(name, default)
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        raise ConfigError(f"Blob artifact store setting {name}: expected a whole number, got {value!r}") from None


class BlobStorage:
    """A :class:`flowyml.artifacts.storage.Storage` on one container and key prefix."""

    def __init__(self, uri: str, settings: Mapping[str, Any] | None = None) -> None:
        self.location = parse(uri)
        self.root = self.location.root
        self.settings = dict(settings or {})
        key = (self.root, repr(sorted(self.settings.items())))
        self.container = _CLIENTS.get(
            key, lambda: _service_client(self.location, self.settings).get_container_client(self.location.container)
        )
        self.block_size = _int_setting(self.settings, "block_size_mb", 8) * MiB
        self.threshold = _int_setting(self.settings, "threshold_mb", 8) * MiB
        self.concurrency = _int_setting(self.settings, "max_concurrency", 8)

    def __repr__(self) -> str:
        return f"BlobStorage({self.root!r})"

    def _blob(self, key: str) -> Any:
        return self.container.get_blob_client(self.location.blob_name(check_key(key)))

    def uri(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    def _create_container(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            retrying(self.container.create_container, f"create container {self.location.container}")
        except ResourceExistsError:
            return  # created concurrently: what we wanted

    def write_bytes(self, key: str, data: bytes, *, create_only: bool = False) -> bool:
        """One Put Blob (or one block-list commit): readers see all of ``data`` or nothing."""
        if len(data) > self.threshold:
            with self.open_write(key, create_only=create_only) as stream:
                stream.write(data)
            return bool(stream.created)
        return self._put(key, data, create_only)

    def open_write(self, key: str, *, create_only: bool = False) -> BlobWriter:
        return BlobWriter(self, key, create_only)

    def open_read(self, key: str) -> BlobReader:
        from azure.core.exceptions import ResourceNotFoundError

        blob = self._blob(key)
        try:
            props = retrying(blob.get_blob_properties, f"read {self.uri(key)}")
        except ResourceNotFoundError:
            raise ArtifactNotFoundError(f"no artifact at {self.uri(key)}") from None
        return BlobReader(self, key, int(props.size), str(props.etag))

    def _put(self, key: str, data: bytes | bytearray, create_only: bool) -> bool:
        """One Put Blob.

        ``create_only`` sends ``If-None-Match: *``: an existing blob is never replaced. If an
        earlier attempt's answer was lost and the blob now holds exactly ``data``, that write
        was ours and counts as done.
        """
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        blob = self._blob(key)
        tried = False

        def put() -> None:
            nonlocal tried
            tried = True
            blob.upload_blob(data, overwrite=not create_only)

        for _attempt in range(2):
            try:
                retrying(put, f"write {self.uri(key)}")
                return True
            except ResourceExistsError:
                # True when our earlier attempt wrote it and only its answer was lost
                return bool(create_only and tried and self._holds(blob, data))
            except ResourceNotFoundError as exc:
                if getattr(exc, "error_code", None) != "ContainerNotFound":
                    raise
                self._create_container()
        raise ArtifactNotFoundError(f"container {self.location.container} could not be created for {self.uri(key)}")

    @staticmethod
    def _holds(blob: Any, data: bytes | bytearray) -> bool:
        return bool(retrying(lambda: blob.download_blob().readall(), "read back blob") == data)

    def read_bytes(self, key: str) -> bytes:
        from azure.core.exceptions import ResourceNotFoundError

        blob = self._blob(key)
        try:
            return retrying(lambda: blob.download_blob().readall(), f"read {self.uri(key)}")
        except ResourceNotFoundError:
            raise ArtifactNotFoundError(f"no artifact at {self.uri(key)}") from None

    def exists(self, key: str) -> bool:
        blob = self._blob(key)
        return bool(retrying(blob.exists, f"check {self.uri(key)}"))

    def list_keys(self, prefix: str = "") -> list[str]:
        from azure.core.exceptions import ResourceNotFoundError

        root = f"{self.location.prefix}/" if self.location.prefix else ""
        base = root + folder_prefix(prefix)
        strip = len(root)
        try:
            names = retrying(
                lambda: [b.name for b in self.container.list_blobs(name_starts_with=base)], f"list {self.root}/{prefix}"
            )
        except ResourceNotFoundError:
            return []
        return sorted(n[strip:] for n in names)


class BlobWriter(PartWriter):
    """One Put Blob up to the threshold, else blocks staged in parallel and one block-list commit."""

    def __init__(self, storage: BlobStorage, key: str, create_only: bool) -> None:
        super().__init__(
            part_size=storage.block_size,
            threshold=storage.threshold,
            concurrency=storage.concurrency,
            create_only=create_only,
        )
        self.storage = storage
        self.key = key
        self.blob = storage._blob(key)
        self._tag = uuid.uuid4().hex[:12]  # block ids are per upload: a concurrent writer's never mix in
        self._exists = False

    def _put(self, data: bytes) -> bool:
        return self.storage._put(self.key, data, self.create_only)

    def _begin(self) -> None:
        self._exists = self.create_only and self.storage.exists(self.key)  # then stage nothing

    def _upload_part(self, number: int, data: bytearray) -> str:
        from azure.core.exceptions import ResourceNotFoundError

        block_id = base64.b64encode(f"{self._tag}-{number:06d}".encode()).decode()
        if self._exists:
            return block_id
        what = f"stage block {number} of {self.storage.uri(self.key)}"
        for _attempt in range(2):
            try:
                retrying(lambda: self.blob.stage_block(block_id, data, length=len(data)), what)
                return block_id
            except ResourceNotFoundError as exc:
                if getattr(exc, "error_code", None) != "ContainerNotFound":
                    raise
                self.storage._create_container()
        raise ArtifactNotFoundError(f"container {self.storage.location.container} could not be created")

    def _complete(self, parts: list[Any]) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
        from azure.storage.blob import BlobBlock

        if self._exists:
            return False
        blocks = [BlobBlock(block_id=b) for b in parts]
        kwargs: dict[str, Any] = {"match_condition": MatchConditions.IfMissing} if self.create_only else {}
        try:
            retrying(lambda: self.blob.commit_block_list(blocks, **kwargs), f"commit {self.storage.uri(self.key)}")
        except (ResourceExistsError, ResourceModifiedError):
            return False
        return True

    def _cancel(self) -> None:
        return None  # uncommitted blocks are never visible; Azure discards them after a week


class BlobReader(RangeReader):
    """Ranged downloads of one version of the blob (``If-Match`` its ETag), fetched ahead in parallel."""

    def __init__(self, storage: BlobStorage, key: str, size: int, etag: str) -> None:
        super().__init__(size, chunk=storage.block_size, window=storage.concurrency)
        self.storage = storage
        self.key = key
        self.etag = etag

    def _fetch(self, start: int, length: int) -> bytes:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        blob = self.storage._blob(self.key)
        try:
            return bytes(
                retrying(
                    lambda: blob.download_blob(
                        offset=start, length=length, etag=self.etag, match_condition=MatchConditions.IfNotModified
                    ).readall(),
                    f"read {self.storage.uri(self.key)} bytes {start}-{start + length - 1}",
                )
            )
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise ArtifactError(f"{self.storage.uri(self.key)} was replaced or deleted while being read") from exc
