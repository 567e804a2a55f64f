"""Registers the ``local`` backend and ``file://`` storage — written exactly as a third party would."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from flowyml.core.status import ExecutionStatus
from flowyml.plugins import Backend, JobSpec, LogRecord, RunHandle, StatusReport, hookimpl
from flowyml.plugins.hookspecs import RegisterBackend, RegisterSecret, RegisterStore
from flowyml.plugins.schedules import ScheduleInfo, ScheduleSpec


@attrs.define(frozen=True)
class LocalConfig:
    """Settings of the local backend.

    ``max_parallel``: units run at once (default: one per CPU). ``grace_period``: seconds between
    SIGTERM and SIGKILL on cancel. ``python``: the interpreter that runs the step-runner.
    ``workdir``: the directory units run in (default: where you submit from).
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


class LocalBackend(Backend):
    """Every unit as a local subprocess under a detached supervisor: the whole remote path on one machine."""

    name = "local"
    config_class = LocalConfig
    description = "Runs every unit as a local subprocess under a detached supervisor (the default)."
    capabilities = frozenset({"dag", "cancel", "logs", "details", "parallel", "schedules"})
    #: The supervisor's own states are ExecutionStatus values: this is the backend's state table.
    # state files hold the values; flowyml 0.x wrote the upper-case names
    native_states = {k: s for s in ExecutionStatus if s is not ExecutionStatus.UNKNOWN for k in (s.value, s.name)}
    orchestrator = "flowyml.stacks.local.LocalOrchestrator"
    #: Units inherit the submitting process's environment: ``${VAR}`` in env_vars reaches them by name.
    secret_schemes = frozenset({"env"})

    def submit(self, spec: JobSpec, config: LocalConfig) -> RunHandle:
        from flowyml.backends.local import backend

        return backend.submit(spec, config)

    def find(self, spec: JobSpec, config: LocalConfig) -> RunHandle | None:
        from flowyml.backends.local import backend

        return backend.find(spec)

    def status(self, handle: RunHandle, config: LocalConfig) -> StatusReport:
        from flowyml.backends.local import backend

        return backend.status(handle)

    def cancel(self, handle: RunHandle, config: LocalConfig, graceful: bool) -> bool:
        from flowyml.backends.local import backend

        return backend.cancel(handle, config, graceful)

    def logs(self, handle: RunHandle, config: LocalConfig, cursor: str | None) -> Iterable[LogRecord]:
        from flowyml.backends.local import logs

        return logs.read_logs(handle, cursor)

    def log_poll_interval(self, config: LocalConfig) -> float:
        return 0.1  # a local file: cheap to read

    def details(self, handle: RunHandle, config: LocalConfig) -> Mapping[str, Any]:
        from flowyml.backends.local import backend

        return backend.details(handle)

    # -- native schedules: a detached local scheduler process fires them --------------------
    def schedule_create(self, schedule: ScheduleSpec, config: LocalConfig) -> ScheduleInfo:
        from flowyml.backends.local import schedules

        return schedules.create(schedule, config)

    def schedule_list(self, config: LocalConfig) -> list[ScheduleInfo]:
        from flowyml.backends.local import schedules

        return schedules.list_all()

    def schedule_pause(self, name: str, config: LocalConfig) -> ScheduleInfo:
        from flowyml.backends.local import schedules

        return schedules.set_paused(name, True)

    def schedule_resume(self, name: str, config: LocalConfig) -> ScheduleInfo:
        from flowyml.backends.local import schedules

        return schedules.set_paused(name, False)

    def schedule_delete(self, name: str, config: LocalConfig) -> bool:
        from flowyml.backends.local import schedules

        return schedules.delete(name)


def _file_storage(uri: str, settings: Mapping[str, Any]) -> Any:
    from flowyml.artifacts.files import FileStorage

    return FileStorage(uri, settings)


@hookimpl
def flowyml_register_backends(register: RegisterBackend) -> None:
    from flowyml.backends.inprocess import InProcessBackend

    register(LocalBackend())
    register(InProcessBackend())  # how the run registry sees `flowyml run FILE` runs (not a stack type)


@hookimpl
def flowyml_register_stores(register: RegisterStore) -> None:
    register("file", _file_storage, description="Local files, written atomically (temp file + fsync + rename).")


@hookimpl
def flowyml_register_secrets(register: RegisterSecret) -> None:
    from flowyml.secrets import resolve_env

    register("env", resolve_env, description="The job's own process environment (local and Ray jobs).")
