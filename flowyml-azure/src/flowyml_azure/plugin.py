"""Registers the ``azureml`` backend and Blob Storage artifact URIs.

Imports no Azure SDK: ``azure.ai.ml`` (about 2 s), ``azure.identity`` and ``azure.storage.blob``
load inside the methods, when an Azure operation actually runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flowyml.core.errors import ConfigError, FlowymlError
from flowyml.plugins import Backend, JobSpec, LogRecord, RunHandle, StatusReport, hookimpl
from flowyml.plugins.hookspecs import RegisterBackend, RegisterStore
from flowyml.plugins.schedules import ScheduleInfo, ScheduleSpec
from flowyml_azure.config import AzureMLConfig
from flowyml_azure.secrets import flowyml_register_secrets  # noqa: F401  (the azure-kv:// resolver)
from flowyml_azure.states import NATIVE_STATES


class AzureMLBackend(Backend):
    name = "azureml"
    config_class = AzureMLConfig
    description = "Azure ML: one command job per run, or a pipeline job of command components."
    capabilities = frozenset({"dag", "cancel", "logs", "details", "gpu", "distributed", "schedules"})
    native_states = NATIVE_STATES
    extra = "azure"
    orchestrator = "flowyml.stacks.azure.AzureMLOrchestrator"
    needs_remote_store = True  # jobs run on Azure compute: a file:// store on this machine is out of reach
    #: resolved in the job by the step-runner with the compute's managed identity (flowyml_azure.secrets)
    secret_schemes = frozenset({"azure-kv"})

    def submit(self, spec: JobSpec, config: AzureMLConfig) -> RunHandle:
        from flowyml_azure.submit import submit

        return submit(spec, config)

    def status(self, handle: RunHandle, config: AzureMLConfig) -> StatusReport:
        from flowyml_azure.jobs import status

        return status(handle, config)

    def status_many(self, handles: list[RunHandle], config: AzureMLConfig) -> Mapping[str, StatusReport]:
        from flowyml_azure.jobs import status_many

        return status_many(handles, config)

    def find(self, spec: JobSpec, config: AzureMLConfig) -> RunHandle | None:
        from flowyml_azure.submit import find

        return find(spec, config)

    def cancel(self, handle: RunHandle, config: AzureMLConfig, graceful: bool) -> bool:
        from flowyml_azure.jobs import cancel

        return cancel(handle, config)

    def logs(self, handle: RunHandle, config: AzureMLConfig, cursor: str | None) -> Iterable[LogRecord]:
        from flowyml_azure.logs import read_logs

        return read_logs(handle, config, cursor)

    def details(self, handle: RunHandle, config: AzureMLConfig) -> Mapping[str, Any]:
        from flowyml_azure.jobs import details

        return details(handle, config)

    # -- native schedules: Azure ML JobSchedule (CronTrigger), one pipeline job per firing ------
    def schedule_create(self, schedule: ScheduleSpec, config: AzureMLConfig) -> ScheduleInfo:
        from flowyml_azure import schedules

        return schedules.create(schedule, config)

    def schedule_list(self, config: AzureMLConfig) -> list[ScheduleInfo]:
        from flowyml_azure import schedules

        return schedules.list_all(config)

    def schedule_pause(self, name: str, config: AzureMLConfig) -> ScheduleInfo:
        from flowyml_azure import schedules

        return schedules.pause(name, config)

    def schedule_resume(self, name: str, config: AzureMLConfig) -> ScheduleInfo:
        from flowyml_azure import schedules

        return schedules.resume(name, config)

    def schedule_delete(self, name: str, config: AzureMLConfig) -> bool:
        from flowyml_azure import schedules

        return schedules.delete(name, config)

    def schedule_runs(self, name: str, config: AzureMLConfig) -> list[RunHandle]:
        from flowyml_azure import schedules

        return schedules.runs(name, config)

    def translate_error(self, exc: BaseException, operation: str) -> FlowymlError | None:
        from flowyml_azure.client import translate

        return translate(exc, f"azureml {operation}")


def _blob_storage(uri: str, settings: Mapping[str, Any]) -> Any:
    from flowyml_azure.store import BlobStorage
    from flowyml_azure.uris import is_blob_https

    if uri.startswith("https://") and not is_blob_https(uri):
        raise ConfigError(
            f"{uri!r} is not an Azure Blob Storage URL: https artifact stores are "
            "https://<account>.blob.<cloud suffix>/<container>/<prefix>"
        )
    return BlobStorage(uri, settings)


@hookimpl
def flowyml_register_backends(register: RegisterBackend) -> None:
    register(AzureMLBackend())


@hookimpl
def flowyml_register_stores(register: RegisterStore) -> None:
    for scheme in ("abfs", "abfss"):
        register(
            scheme,
            _blob_storage,
            extra="azure",
            description="Azure Blob Storage: abfs://<container>@<account>.dfs.core.windows.net/<prefix>",
        )
    register(
        "https",
        _blob_storage,
        extra="azure",
        description="Azure Blob Storage: https://<account>.blob.core.windows.net/<container>/<prefix>",
    )
