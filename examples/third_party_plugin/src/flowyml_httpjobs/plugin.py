"""The hook implementations flowyml loads through the entry point ``httpjobs``.

Keep this module light: it is imported whenever flowyml looks for plugins (``flowyml plugins``,
loading flowyml.yaml). The HTTP machinery is imported inside each hook, when it is needed.
Every dispatch hook returns ``None`` for backends that are not ours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from flowyml.plugins import BackendInfo, JobSpec, LogRecord, RunHandle, StatusReport, hookimpl
from flowyml_httpjobs.config import HttpJobsConfig
from flowyml_httpjobs.states import NATIVE_STATES

NAME = "httpjobs"


@hookimpl
def flowyml_register_backends(register: Callable[[BackendInfo], None]) -> None:
    register(
        BackendInfo(
            name=NAME,
            config_class=HttpJobsConfig,
            description="Runs each execution unit as a job on an httpjobs server (a worked third-party plugin).",
            capabilities={"dag", "cancel", "logs", "details"},
            native_states=NATIVE_STATES,
            orchestrator="flowyml_httpjobs.orchestrators.HttpJobsOrchestrator",
        )
    )


@hookimpl
def flowyml_submit(backend: str, spec: JobSpec, config: HttpJobsConfig) -> RunHandle | None:
    if backend != NAME:
        return None
    from flowyml_httpjobs.submit import submit

    return submit(spec, config)


@hookimpl
def flowyml_status(handle: RunHandle, config: HttpJobsConfig) -> StatusReport | None:
    if handle.backend != NAME:
        return None
    from flowyml_httpjobs.runs import status

    return status(handle, config)


@hookimpl
def flowyml_cancel(handle: RunHandle, config: HttpJobsConfig, graceful: bool) -> bool | None:
    if handle.backend != NAME:
        return None
    from flowyml_httpjobs.runs import cancel

    return cancel(handle, config, graceful)


@hookimpl
def flowyml_logs(
    handle: RunHandle, config: HttpJobsConfig, cursor: str | None, follow: bool, poll_interval: float | None
) -> Iterator[LogRecord] | None:
    if handle.backend != NAME:
        return None
    from flowyml_httpjobs.logs import read_logs

    return read_logs(handle, config, cursor, follow, poll_interval)


@hookimpl
def flowyml_details(handle: RunHandle, config: HttpJobsConfig) -> Mapping[str, Any] | None:
    if handle.backend != NAME:
        return None
    from flowyml_httpjobs.runs import details

    return details(handle, config)


# No flowyml_storage / flowyml_register_stores: the server's jobs read and write artifacts
# through core's file:// storage, so this plugin needs no storage of its own.
