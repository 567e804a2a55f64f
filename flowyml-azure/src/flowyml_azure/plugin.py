"""Registers the ``azureml`` backend and Blob Storage artifact URIs.

Imports no Azure SDK: ``azure.ai.ml`` (about 2 s), ``azure.identity`` and ``azure.storage.blob``
load inside the hooks, when an Azure operation actually runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flowyml.plugins import BackendInfo, JobSpec, LogRecord, RunHandle, StatusReport, StoreInfo, hookimpl
from flowyml_azure.config import AzureMLConfig
from flowyml_azure.states import NATIVE_STATES

NAME = "azureml"


@hookimpl
def flowyml_register_backends(register: Any) -> None:
    register(
        BackendInfo(
            name=NAME,
            config_class=AzureMLConfig,
            description="Azure ML: one command job per run, or a pipeline job of command components.",
            capabilities={"dag", "cancel", "logs", "details", "gpu", "distributed"},
            native_states=NATIVE_STATES,
            extra="azure",
            orchestrator="flowyml.stacks.azure.AzureMLOrchestrator",
        )
    )


@hookimpl
def flowyml_register_stores(register: Any) -> None:
    for scheme in ("abfs", "abfss"):
        register(StoreInfo(scheme, "Azure Blob Storage: abfs://<container>@<account>.dfs.core.windows.net/<prefix>",
                           extra="azure"))
    register(StoreInfo("https", "Azure Blob Storage: https://<account>.blob.core.windows.net/<container>/<prefix>",
                       extra="azure"))


@hookimpl
def flowyml_submit(backend: str, spec: JobSpec, config: AzureMLConfig) -> RunHandle | None:
    if backend != NAME:
        return None
    from flowyml_azure.submit import submit

    return submit(spec, config)


@hookimpl
def flowyml_status(handle: RunHandle, config: AzureMLConfig) -> StatusReport | None:
    if handle.backend != NAME:
        return None
    from flowyml_azure.jobs import status

    return status(handle, config)


@hookimpl
def flowyml_cancel(handle: RunHandle, config: AzureMLConfig, graceful: bool) -> bool | None:
    if handle.backend != NAME:
        return None
    from flowyml_azure.jobs import cancel

    return cancel(handle, config)


@hookimpl
def flowyml_logs(
    handle: RunHandle, config: AzureMLConfig, cursor: str | None, follow: bool, poll_interval: float | None = None
) -> Iterator[LogRecord] | None:
    if handle.backend != NAME:
        return None
    from flowyml_azure.logs import read_logs

    return read_logs(handle, config, cursor, follow, poll_interval)


@hookimpl
def flowyml_details(handle: RunHandle, config: AzureMLConfig) -> Mapping[str, Any] | None:
    if handle.backend != NAME:
        return None
    from flowyml_azure.jobs import details

    return details(handle, config)


@hookimpl
def flowyml_storage(uri: str, settings: Mapping[str, Any]) -> Any:
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme not in ("abfs", "abfss"):
        from flowyml_azure.uris import is_blob_https

        if not is_blob_https(uri):
            return None
    from flowyml_azure.store import BlobStorage

    return BlobStorage(uri, settings)
