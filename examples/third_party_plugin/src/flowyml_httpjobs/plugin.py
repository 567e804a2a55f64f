"""The backend flowyml loads through the entry point ``httpjobs``.

Keep this module light: it is imported whenever flowyml looks for plugins (``flowyml plugins``,
loading flowyml.yaml). The HTTP machinery is imported inside each method, when it is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flowyml.plugins import Backend, JobSpec, LogRecord, RunHandle, StatusReport, hookimpl
from flowyml.plugins.hookspecs import RegisterBackend
from flowyml_httpjobs.config import HttpJobsConfig
from flowyml_httpjobs.states import NATIVE_STATES


class HttpJobsBackend(Backend):
    name = "httpjobs"
    config_class = HttpJobsConfig
    description = "Runs each execution unit as a job on an httpjobs server (a worked third-party plugin)."
    capabilities = frozenset({"dag", "cancel", "logs", "details"})
    native_states = NATIVE_STATES
    orchestrator = "flowyml_httpjobs.orchestrators.HttpJobsOrchestrator"

    def submit(self, spec: JobSpec, config: HttpJobsConfig) -> RunHandle:
        from flowyml_httpjobs.submit import submit

        return submit(spec, config)

    def status(self, handle: RunHandle, config: HttpJobsConfig) -> StatusReport:
        from flowyml_httpjobs.runs import status

        return status(handle, config)

    def cancel(self, handle: RunHandle, config: HttpJobsConfig, graceful: bool) -> bool:
        from flowyml_httpjobs.runs import cancel

        return cancel(handle, config, graceful)

    def logs(self, handle: RunHandle, config: HttpJobsConfig, cursor: str | None) -> Iterable[LogRecord]:
        from flowyml_httpjobs.logs import read_logs

        return read_logs(handle, config, cursor, False)

    def details(self, handle: RunHandle, config: HttpJobsConfig) -> Mapping[str, Any]:
        from flowyml_httpjobs.runs import details

        return details(handle, config)


@hookimpl
def flowyml_register_backends(register: RegisterBackend) -> None:
    register(HttpJobsBackend())
