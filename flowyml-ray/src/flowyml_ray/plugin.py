"""Registers the ``ray`` backend. Imports no Ray module: ``ray`` loads on the first call to the cluster."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flowyml.core.errors import FlowymlError
from flowyml.plugins import Backend, JobSpec, LogRecord, RunHandle, StatusReport, hookimpl
from flowyml_ray.config import RayConfig
from flowyml_ray.states import JOB_STATES


class RayBackend(Backend):
    """One Ray Job per run (Jobs API); its driver runs each execution unit as a Ray task."""

    name = "ray"
    config_class = RayConfig
    description = (
        "Ray: one Ray Job per run through the Jobs API; each execution unit a Ray task with its "
        "resources, dependencies as ObjectRefs (ray[default])."
    )
    capabilities = frozenset({"dag", "cancel", "logs", "details", "gpu", "parallel"})
    native_states = JOB_STATES
    extra = "ray"
    orchestrator = "flowyml.stacks.ray.RayOrchestrator"
    #: ``${VAR}`` env_vars are read by each unit from its Ray worker's own environment (env://VAR)
    secret_schemes = frozenset({"env"})

    def needs_remote_store_for(self, config: RayConfig) -> bool:
        """A ``file://`` store is refused before anything is written when the cluster is on other machines."""
        from flowyml_ray.submit import runs_elsewhere

        return runs_elsewhere(config)

    def submit(self, spec: JobSpec, config: RayConfig) -> RunHandle:
        from flowyml_ray import submit

        return submit.submit(spec, config)

    def find(self, spec: JobSpec, config: RayConfig) -> RunHandle | None:
        from flowyml_ray import submit

        return submit.find(spec, config)

    def status(self, handle: RunHandle, config: RayConfig) -> StatusReport:
        from flowyml_ray import submit

        return submit.status(handle, config)

    def status_many(self, handles: list[RunHandle], config: RayConfig) -> Mapping[str, StatusReport]:
        from flowyml_ray import submit

        return submit.status_many(handles, config)

    def cancel(self, handle: RunHandle, config: RayConfig, graceful: bool) -> bool:
        from flowyml_ray import submit

        return submit.cancel(handle, config, graceful)

    def logs(self, handle: RunHandle, config: RayConfig, cursor: str | None) -> Iterable[LogRecord]:
        from flowyml_ray import logs

        return logs.read_logs(handle, config, cursor)

    def details(self, handle: RunHandle, config: RayConfig) -> Mapping[str, Any]:
        from flowyml_ray import submit

        return submit.details(handle, config)

    def log_poll_interval(self, config: RayConfig) -> float:
        return config.log_poll_interval

    def translate_error(self, exc: BaseException, operation: str) -> FlowymlError | None:
        from flowyml_ray.client import translate

        return translate(exc, operation)


@hookimpl
def flowyml_register_backends(register: Any) -> None:
    register(RayBackend())
