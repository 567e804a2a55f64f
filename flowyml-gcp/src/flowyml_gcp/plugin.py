"""Registers the ``vertex_ai`` backend and ``gs://`` storage. No Google SDK is imported here."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from flowyml.plugins import BackendInfo, JobSpec, LogRecord, RunHandle, StatusReport, StoreInfo, hookimpl
from flowyml_gcp.config import VertexAIConfig
from flowyml_gcp.states import NATIVE_STATES

NAME = "vertex_ai"


@hookimpl
def flowyml_register_backends(register: Any) -> None:
    register(
        BackendInfo(
            name=NAME,
            config_class=VertexAIConfig,
            description="Google Vertex AI: one CustomJob per single-unit run, else one PipelineJob (kfp DAG).",
            capabilities={"dag", "cancel", "logs", "details", "gpu"},
            native_states=NATIVE_STATES,
            extra="gcp",
            orchestrator="flowyml.stacks.gcp.VertexAIOrchestrator",
        )
    )


@hookimpl
def flowyml_register_stores(register: Any) -> None:
    register(StoreInfo("gs", "Google Cloud Storage; create-only writes use a generation precondition.", extra="gcp"))


@hookimpl
def flowyml_submit(backend: str, spec: JobSpec, config: VertexAIConfig) -> RunHandle | None:
    if backend != NAME:
        return None
    from flowyml_gcp.submit import submit

    return submit(spec, config)


@hookimpl
def flowyml_status(handle: RunHandle, config: VertexAIConfig) -> StatusReport | None:
    if handle.backend != NAME:
        return None
    from flowyml_gcp.jobs import status

    return status(handle, config)


@hookimpl
def flowyml_cancel(handle: RunHandle, config: VertexAIConfig, graceful: bool) -> bool | None:
    if handle.backend != NAME:
        return None
    from flowyml_gcp.jobs import cancel

    return cancel(handle, config, graceful)


@hookimpl
def flowyml_logs(
    handle: RunHandle, config: VertexAIConfig, cursor: str | None, follow: bool
) -> Iterator[LogRecord] | None:
    if handle.backend != NAME:
        return None
    from flowyml_gcp.logs import read_logs

    return read_logs(handle, config, cursor, follow)


@hookimpl
def flowyml_details(handle: RunHandle, config: VertexAIConfig) -> Mapping[str, Any] | None:
    if handle.backend != NAME:
        return None
    from flowyml_gcp.jobs import details

    return details(handle, config)


@hookimpl
def flowyml_storage(uri: str, settings: Mapping[str, Any]) -> Any:
    if not uri.startswith("gs://"):
        return None
    from flowyml_gcp.store import GCSStorage

    return GCSStorage(uri, settings)
