"""Seed-compatible facades: ``AzureMLOrchestrator`` and ``AzureBlobArtifactStore``.

Re-exported by ``flowyml.stacks.azure``. Everything they do goes through the plugin hooks, like
any other backend; these classes only translate the documented constructor arguments.
"""

from __future__ import annotations

__all__ = ["AzureMLOrchestrator", "AzureBlobArtifactStore"]

from collections.abc import Mapping
from typing import Any

from flowyml.artifacts.store import ArtifactStore
from flowyml.core.resources import DockerConfig, ResourceConfig
from flowyml.orchestrators import RemoteOrchestrator
from flowyml_azure.config import AzureMLConfig
from flowyml_azure.credentials import register_credential
from flowyml_azure.workspace import ARTIFACT_PREFIX


class AzureBlobArtifactStore(ArtifactStore):
    """Artifacts in Azure Blob Storage (manifest + sha256, create-only data blobs).

    Give a URI (``abfs://<container>@<account>.dfs.core.windows.net/<prefix>``) or the account
    and container; ``account_url``, ``connection_string_env`` (the name of the variable holding a
    connection string), ``credential`` and ``ca_bundle`` are the store settings.
    """

    def __init__(
        self,
        uri: str | None = None,
        *,
        account_name: str | None = None,
        container_name: str | None = None,
        prefix: str = ARTIFACT_PREFIX,
        account_url: str | None = None,
        connection_string_env: str | None = None,
        credential: str | None = None,
        ca_bundle: str | None = None,
        storage_suffix: str = "core.windows.net",
        name: str | None = None,
    ) -> None:
        if uri is not None and "://" not in uri and container_name:  # FlowyML's positional name
            name, uri = uri, None
        self.name = name or "azure_blob"
        if uri is None:
            if not container_name:
                raise ValueError("AzureBlobArtifactStore needs a uri, or container_name (and account_name)")
            account = f"@{account_name}.dfs.{storage_suffix}" if account_name else ""
            uri = f"abfs://{container_name}{account}/{prefix.strip('/')}".rstrip("/")
        settings = {
            "account_url": account_url,
            "connection_string_env": connection_string_env,
            "credential": credential,
            "ca_bundle": ca_bundle,
        }
        self.settings: dict[str, str] = {k: v for k, v in settings.items() if v}
        from flowyml_azure.store import BlobStorage

        super().__init__(uri, self.settings, storage=BlobStorage(uri, self.settings))


class AzureMLOrchestrator(RemoteOrchestrator):
    """Runs flowyml pipelines as Azure ML jobs (the ``azureml`` backend).

    ``AzureMLOrchestrator(subscription_id=..., resource_group=..., workspace_name=...,
    compute="cpu-cluster")`` as in the FlowyML docs; ``credential`` may be a setting string (see
    :class:`~flowyml_azure.config.AzureMLConfig`) or a ``TokenCredential`` object. Without an
    ``artifact_store``, artifacts go to the workspace's default datastore account (looked up on
    first use) under ``flowyml/``.
    """

    backend = "azureml"

    def __init__(
        self,
        name: str = "azureml",
        subscription_id: str = "",
        resource_group: str = "",
        workspace_name: str = "",
        compute: str = "",
        *,
        experiment_name: str | None = None,
        environment: str | None = None,
        credential: Any = "default",
        cloud: str | None = None,
        arm_endpoint: str | None = None,
        ca_bundle: str | None = None,
        artifact_store: str | AzureBlobArtifactStore | None = None,
        store_settings: Mapping[str, str] | None = None,
        image: str | None = None,
        docker_config: DockerConfig | None = None,
        resources: ResourceConfig | None = None,
        code: str | None = None,
        **config: Any,
    ) -> None:
        # FlowyML's ``code=`` (the source folder to upload) is accepted; flowyml ships the pipeline
        # by its module reference and the job's image must contain it (see docs/migrating.md).
        self.code = code
        if credential is None:  # FlowyML's default: DefaultAzureCredential
            credential = "default"
        if not isinstance(credential, str):
            credential = register_credential(credential)
        settings = AzureMLConfig(
            subscription_id=subscription_id,
            resource_group=resource_group,
            workspace_name=workspace_name,
            compute=compute,
            experiment_name=experiment_name,
            environment=environment,
            credential=credential,
            cloud=cloud,
            arm_endpoint=arm_endpoint,
            ca_bundle=ca_bundle,
            **config,
        )
        if isinstance(artifact_store, AzureBlobArtifactStore):
            store_settings = {**artifact_store.settings, **(store_settings or {})}
            artifact_store = artifact_store.uri
        if docker_config is None and image:
            docker_config = DockerConfig(image=image)
        self._resolved_root: str | None = None
        super().__init__(
            name,
            settings,
            artifact_store=artifact_store,
            store_settings=store_settings,
            docker_config=docker_config,
            resources=resources,
        )

    @property
    def artifact_root(self) -> str:
        if not self._resolved_root:
            self._resolved_root = self._workspace_default_root()
        return self._resolved_root

    @artifact_root.setter
    def artifact_root(self, value: str | None) -> None:
        self._resolved_root = value or None

    def default_artifact_root(self) -> str:
        return ""  # resolved lazily from the workspace on first use (no SDK call at construction)

    def to_dict(self) -> dict[str, Any]:
        """The settings, secrets removed; an unresolved default store is named, not looked up."""
        saved, self._resolved_root = self._resolved_root, self._resolved_root or "<workspace default datastore>"
        try:
            return super().to_dict()
        finally:
            self._resolved_root = saved

    def _workspace_default_root(self) -> str:
        from flowyml_azure.workspace import default_store_root

        return default_store_root(self.config)
