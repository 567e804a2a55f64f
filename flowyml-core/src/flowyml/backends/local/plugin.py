"""Registers the ``local`` backend and ``file://`` storage — written exactly as a third party would."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from flowyml.core.status import ExecutionStatus
from flowyml.plugins import BackendInfo, JobSpec, LogRecord, RunHandle, StatusReport, StoreInfo, hookimpl

NAME = "local"


@attrs.define(frozen=True)
class LocalConfig:
    """Settings of the local backend.

    ``max_parallel``: units run at once (default: one per CPU). ``grace_period``: seconds between
    SIGTERM and SIGKILL on cancel. ``python``: the interpreter that runs the step-runner.
    """

    max_parallel: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    grace_period: float = attrs.field(default=10.0, validator=attrs.validators.ge(0))
    python: str | None = None
    workdir: str | None = None

    def validate(self) -> None:
        """``workdir`` must be a directory and ``python`` an executable: what a run would trip on."""
        from flowyml.config.checks import check_directory, check_executable

        check_directory(self.workdir, "workdir")
        check_executable(self.python, "python")


#: The supervisor's own states are ExecutionStatus names; this is the backend's state table.
NATIVE_STATES = {s.value: s for s in ExecutionStatus if s is not ExecutionStatus.UNKNOWN}


@hookimpl
def flowyml_register_backends(register: Any) -> None:
    register(
        BackendInfo(
            name=NAME,
            config_class=LocalConfig,
            description="Runs every unit as a local subprocess under a detached supervisor (the default).",
            capabilities={"dag", "cancel", "logs", "details", "parallel"},
            native_states=NATIVE_STATES,
            orchestrator="flowyml.stacks.local.LocalOrchestrator",
        )
    )


@hookimpl
def flowyml_register_stores(register: Any) -> None:
    register(StoreInfo("file", "Local files, written atomically (temp file + fsync + rename)."))


@hookimpl
def flowyml_submit(backend: str, spec: JobSpec, config: LocalConfig) -> RunHandle | None:
    if backend != NAME:
        return None
    from flowyml.backends.local import backend as impl

    return impl.submit(spec, config)


@hookimpl
def flowyml_status(handle: RunHandle, config: LocalConfig) -> StatusReport | None:
    if handle.backend != NAME:
        return None
    from flowyml.backends.local import backend as impl

    return impl.status(handle)


@hookimpl
def flowyml_cancel(handle: RunHandle, config: LocalConfig, graceful: bool) -> bool | None:
    if handle.backend != NAME:
        return None
    from flowyml.backends.local import backend as impl

    return impl.cancel(handle, config, graceful)


@hookimpl
def flowyml_logs(
    handle: RunHandle, config: LocalConfig, cursor: str | None, follow: bool, poll_interval: float | None
) -> Iterator[LogRecord] | None:
    if handle.backend != NAME:
        return None
    from flowyml.backends.local import logs

    return logs.read_logs(handle, cursor, follow, poll_interval or logs.FOLLOW_POLL)


@hookimpl
def flowyml_details(handle: RunHandle, config: LocalConfig) -> Mapping[str, Any] | None:
    if handle.backend != NAME:
        return None
    from flowyml.backends.local import backend as impl

    return impl.details(handle)


@hookimpl
def flowyml_storage(uri: str, settings: Mapping[str, Any]) -> Any:
    if "://" in uri and not uri.startswith("file://"):
        return None
    from flowyml.artifacts.storage import FileStorage

    return FileStorage(uri)
