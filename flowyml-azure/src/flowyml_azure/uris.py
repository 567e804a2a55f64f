"""The artifact URI forms flowyml-azure stores to, parsed into account, container and prefix.

* ``abfs://<container>@<account>.dfs.<suffix>/<prefix>`` (also ``abfss://``): the ADLS Gen2 form
  used by fsspec/adlfs and Spark; flowyml talks to the same account's Blob endpoint.
* ``abfs://<container>/<prefix>``: the account comes from the store settings
  (``account_url`` or a connection string).
* ``https://<account>.blob.<suffix>/<container>/<prefix>``: a plain Blob URL.

``azureml://datastores/...`` URIs are refused with an explanation: resolving a datastore needs
the workspace's datastore API and its secrets, which flowyml does not depend on.
"""

from __future__ import annotations

import re

import attrs

from flowyml.core.errors import ConfigError

SCHEMES = ("abfs", "abfss", "https")
_BLOB_HOST = re.compile(r"^(?P<account>[a-z0-9]{3,24})\.blob\.(?P<suffix>[A-Za-z0-9.-]+)$")
_DFS_HOST = re.compile(r"^(?P<account>[a-z0-9]{3,24})\.dfs\.(?P<suffix>[A-Za-z0-9.-]+)$")


@attrs.define(frozen=True)
class BlobLocation:
    """Where a storage root lives: the account (if the URI names it), container and key prefix."""

    root: str
    container: str
    prefix: str
    account: str | None = None
    suffix: str = "core.windows.net"

    @property
    def default_account_url(self) -> str | None:
        return f"https://{self.account}.blob.{self.suffix}" if self.account else None

    def blob_name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key


def is_blob_https(uri: str) -> bool:
    """True for ``https://<account>.blob.<suffix>/...`` (other https URLs are not ours)."""
    if not uri.startswith("https://"):
        return False
    host = uri[len("https://") :].split("/", 1)[0]
    return bool(_BLOB_HOST.match(host))


def parse(uri: str) -> BlobLocation:
    root = uri.rstrip("/")
    scheme, sep, rest = root.partition("://")
    if not sep:
        raise ConfigError(f"not a Blob Storage URI: {uri!r}")
    if scheme == "azureml":
        raise ConfigError(
            f"{uri!r}: azureml:// datastore URIs are not supported as a flowyml artifact store; use the "
            "datastore's storage account directly: abfs://<container>@<account>.dfs.core.windows.net/<prefix>"
        )
    host, _, path = rest.partition("/")
    if scheme in ("abfs", "abfss"):
        container, at, account_host = host.partition("@")
        if not container:
            raise ConfigError(f"{uri!r}: expected abfs://<container>@<account>.dfs.core.windows.net/<prefix>")
        if not at:
            return BlobLocation(root=root, container=container, prefix=path.strip("/"))
        match = _DFS_HOST.match(account_host) or _BLOB_HOST.match(account_host)
        if not match:
            raise ConfigError(f"{uri!r}: {account_host!r} is not <account>.dfs.<suffix>")
        return BlobLocation(
            root=root, container=container, prefix=path.strip("/"), account=match["account"], suffix=match["suffix"]
        )
    if scheme == "https":
        match = _BLOB_HOST.match(host)
        container, _, prefix = path.partition("/")
        if not match or not container:
            raise ConfigError(f"{uri!r}: expected https://<account>.blob.<suffix>/<container>/<prefix>")
        return BlobLocation(
            root=root, container=container, prefix=prefix.strip("/"), account=match["account"], suffix=match["suffix"]
        )
    raise ConfigError(f"{uri!r}: unsupported scheme {scheme!r}; use abfs://, abfss:// or https://<account>.blob...")
