"""Blob Storage for flowyml artifacts: whole-object writes, create-only with ``If-None-Match: *``.

Settings (``artifact_store.settings`` in ``flowyml.yaml``; all non-secret, they travel to jobs):

* ``account_url``: the Blob endpoint (default: derived from the URI's account). Tests use it to
  point at Azurite.
* ``connection_string_env``: the NAME of an environment variable holding a connection string
  (the secret itself never enters flowyml's settings, job specs or run records).
* ``credential``: without a connection string, how to get a token (``default``, ``cli``,
  ``managed_identity``, ``environment``, ``workload_identity`` or ``module:factory``).
* ``ca_bundle``: a PEM file to trust; ``authority_host``: AAD authority for sovereign clouds.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from flowyml.artifacts.storage import check_key
from flowyml.core.errors import ArtifactNotFoundError, ConfigError
from flowyml_azure.client import retrying
from flowyml_azure.credentials import resolve_credential
from flowyml_azure.uris import BlobLocation, parse

SETTINGS = ("account_url", "connection_string_env", "credential", "ca_bundle", "authority_host")
_CLIENTS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


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


class BlobStorage:
    """A :class:`flowyml.artifacts.storage.Storage` on one container and key prefix."""

    def __init__(self, uri: str, settings: Mapping[str, Any] | None = None) -> None:
        self.location = parse(uri)
        self.root = self.location.root
        self.settings = dict(settings or {})
        key = (self.root, repr(sorted(self.settings.items())))
        with _LOCK:
            if key not in _CLIENTS:
                service = _service_client(self.location, self.settings)
                _CLIENTS[key] = service.get_container_client(self.location.container)
            self.container = _CLIENTS[key]

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
        """One Put Blob (or one block-list commit): readers see all of ``data`` or nothing.

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
    def _holds(blob: Any, data: bytes) -> bool:
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
        base = self.location.blob_name(prefix) if prefix else root
        strip = len(self.location.prefix) + 1 if self.location.prefix else 0
        try:
            names = retrying(lambda: [b.name for b in self.container.list_blobs(name_starts_with=base)],
                             f"list {self.root}/{prefix}")
        except ResourceNotFoundError:
            return []
        return sorted(n[strip:] for n in names)
