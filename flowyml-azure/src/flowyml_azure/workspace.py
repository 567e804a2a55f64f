"""The workspace's default datastore as a flowyml artifact root (used when no store is configured)."""

from __future__ import annotations

from flowyml.core.errors import ConfigError
from flowyml_azure.client import ml_client, refused, retrying
from flowyml_azure.config import AzureMLConfig

ARTIFACT_PREFIX = "flowyml"


def default_store_root(config: AzureMLConfig) -> str:
    """``abfs://<container>@<account>.dfs.<suffix>/flowyml`` of the default datastore (one ARM call)."""
    ml = ml_client(config)
    try:
        store = retrying(lambda: ml.datastores.get_default(), "get the workspace's default datastore", config)
    except Exception as exc:
        error = refused(exc, "reading the workspace's default datastore")
        raise ConfigError(f"azureml: no artifact_store is configured and {error}; set artifact_store.uri") from exc
    account, container = getattr(store, "account_name", None), getattr(store, "container_name", None)
    if not account or not container:
        raise ConfigError(
            f"azureml: the default datastore {store.name!r} is not a Blob container; set artifact_store.uri"
        )
    suffix = getattr(store, "endpoint", None) or config.storage_suffix
    return f"abfs://{container}@{account}.dfs.{suffix}/{ARTIFACT_PREFIX}"
