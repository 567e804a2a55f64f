"""Registers the ``vertex_ai`` backend and ``gs://`` storage. No Google SDK is imported here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flowyml.core.errors import FlowymlError
from flowyml.plugins import Backend, JobSpec, LogRecord, RunHandle, StatusReport, hookimpl
from flowyml.plugins.hookspecs import RegisterBackend, RegisterStore
from flowyml.plugins.schedules import ScheduleInfo, ScheduleSpec
from flowyml_gcp.config import VertexAIConfig
from flowyml_gcp.secrets import flowyml_register_secrets  # noqa: F401  (the gcp-sm:// resolver)
from flowyml_gcp.states import NATIVE_STATES


class VertexAIBackend(Backend):
    name = "vertex_ai"
    config_class = VertexAIConfig
    description = "Google Vertex AI: one CustomJob per single-unit run, else one PipelineJob (kfp DAG)."
    capabilities = frozenset({"dag", "cancel", "logs", "details", "gpu", "schedules"})
    native_states = NATIVE_STATES
    extra = "gcp"
    orchestrator = "flowyml.stacks.gcp.VertexAIOrchestrator"
    #: jobs run on Google's machines: a file:// artifact store is refused unless marked shared (GCS FUSE)
    needs_remote_store = True
    #: resolved in the job by the step-runner with the job's service account (flowyml_gcp.secrets)
    secret_schemes = frozenset({"gcp-sm"})

    def submit(self, spec: JobSpec, config: VertexAIConfig) -> RunHandle:
        from flowyml_gcp.submit import submit

        return submit(spec, config)

    def find(self, spec: JobSpec, config: VertexAIConfig) -> RunHandle | None:
        from flowyml_gcp.submit import find

        return find(spec, config)

    def status(self, handle: RunHandle, config: VertexAIConfig) -> StatusReport:
        from flowyml_gcp.jobs import status

        return status(handle, config)

    def status_many(self, handles: list[RunHandle], config: VertexAIConfig) -> Mapping[str, StatusReport]:
        from flowyml_gcp.jobs import status_many

        return status_many(handles, config)

    def cancel(self, handle: RunHandle, config: VertexAIConfig, graceful: bool) -> bool:
        from flowyml_gcp.jobs import cancel

        return cancel(handle, config, graceful)

    def logs(self, handle: RunHandle, config: VertexAIConfig, cursor: str | None) -> Iterable[LogRecord]:
        from flowyml_gcp.logs import read_logs

        return read_logs(handle, config, cursor)

    def log_settle_seconds(self, config: VertexAIConfig) -> float:
        return max(0.0, config.log_settle_seconds)

    def details(self, handle: RunHandle, config: VertexAIConfig) -> Mapping[str, Any]:
        from flowyml_gcp.jobs import details

        return details(handle, config)

    # -- native schedules: Vertex AI ScheduleService, one PipelineJob per firing -------------
    def schedule_create(self, schedule: ScheduleSpec, config: VertexAIConfig) -> ScheduleInfo:
        from flowyml_gcp import schedules

        return schedules.create(schedule, config)

    def schedule_list(self, config: VertexAIConfig) -> list[ScheduleInfo]:
        from flowyml_gcp import schedules

        return schedules.list_all(config)

    def schedule_pause(self, name: str, config: VertexAIConfig) -> ScheduleInfo:
        from flowyml_gcp import schedules

        return schedules.pause(name, config)

    def schedule_resume(self, name: str, config: VertexAIConfig) -> ScheduleInfo:
        from flowyml_gcp import schedules

        return schedules.resume(name, config)

    def schedule_delete(self, name: str, config: VertexAIConfig) -> bool:
        from flowyml_gcp import schedules

        return schedules.delete(name, config)

    def schedule_runs(self, name: str, config: VertexAIConfig) -> list[RunHandle]:
        from flowyml_gcp import schedules

        return schedules.runs(name, config)

    def translate_error(self, exc: BaseException, operation: str) -> FlowymlError | None:
        from flowyml_gcp.errors import translate

        return translate(exc, operation)


def _gcs_storage(uri: str, settings: Mapping[str, Any]) -> Any:
    from flowyml_gcp.store import GCSStorage

    return GCSStorage(uri, settings)


@hookimpl
def flowyml_register_backends(register: RegisterBackend) -> None:
    register(VertexAIBackend())


@hookimpl
def flowyml_register_stores(register: RegisterStore) -> None:
    register(
        "gs",
        _gcs_storage,
        description="Google Cloud Storage; create-only writes use a generation precondition.",
        extra="gcp",
    )
