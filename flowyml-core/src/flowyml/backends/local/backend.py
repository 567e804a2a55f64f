"""The local backend's submit / status / cancel / details (the supervisor does the running)."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from flowyml.backends.local.paths import (
    SPAWNED,
    SUBMIT_LOCK,
    SUPERVISOR_LOCK,
    read_json,
    run_dir,
    supervisor_pid,
    write_json,
)
from flowyml.backends.local.plugin import LocalConfig
from flowyml.core.atomic import atomic_write
from flowyml.core.locks import hold_lock, is_locked, locked
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators.configs import redact_config
from flowyml.plugins.processes import spawn_detached
from flowyml.plugins.types import JobSpec, RunHandle, StatusReport


def _handle(spec: JobSpec, directory: Any) -> RunHandle:
    return RunHandle(
        backend="local",
        run_id=spec.run_id,
        job_id=spec.run_id,
        units={u.name: u.name for u in spec.units},
        metadata={"run_dir": str(directory)},
        artifact_root=spec.artifact_root,
        pipeline_name=spec.pipeline_name,
    )


def submit(spec: JobSpec, config: LocalConfig) -> RunHandle:
    """Start a detached supervisor for the run and return at once (idempotent per run id).

    Under the run's submit lock: a run whose supervisor started (or that has a recorded state) is
    returned as it is; otherwise — a new run, or an earlier submit that died part-way — the files
    are written and a supervisor is started. The run's supervisor lock is taken here and handed to
    the supervisor at birth, so it is held from the moment the supervisor exists (a status never
    mistakes a starting run for a lost one) and at most one supervisor ever runs a run.
    """
    from flowyml.orchestrators.remote import kill_point

    directory = run_dir(spec.run_id)
    directory.mkdir(parents=True, exist_ok=True)
    with locked(directory / SUBMIT_LOCK):
        if (directory / "supervisor.pid").exists() or (directory / "state.json").exists():
            return _handle(spec, directory)  # a retried submit: the run already exists
        lock_fd = hold_lock(directory / SUPERVISOR_LOCK)
        if lock_fd is None:
            return _handle(spec, directory)  # its supervisor is starting
        try:
            kill_point("local:locked")
            (directory / "submitted").touch()
            kill_point("local:after_marker")
            atomic_write(directory / "job.json", spec.to_json().encode())
            write_json(directory / "config.json", redact_config(config))  # values from ${...} stay templates
            (directory / "logs").mkdir(exist_ok=True)
            kill_point("local:after_files")
            python = config.python or sys.executable
            spawn_detached(
                [python, "-m", "flowyml.backends.local.supervisor", str(directory), "--lock-fd", str(lock_fd)],
                log_path=directory / "supervisor.log",
                cwd=config.workdir or os.getcwd(),
                pass_fds=[lock_fd],
            )
            kill_point("local:after_spawn")
            (directory / SPAWNED).touch()
        finally:
            os.close(lock_fd)  # the supervisor holds the lock now (or, if the spawn failed, nobody)
    return _handle(spec, directory)


def find(spec: JobSpec) -> RunHandle | None:
    """The run, if an earlier submit started its supervisor (or a submit is starting it now)."""
    directory = run_dir(spec.run_id)
    if directory.is_dir() and (_started(directory) or is_locked(directory / SUBMIT_LOCK)):
        return _handle(spec, directory)
    return None


def _started(directory: Any) -> bool:
    """True once a supervisor took the run (its pid is recorded or it holds the lock) or the run has a state."""
    return (
        (directory / "supervisor.pid").exists()
        or (directory / "state.json").exists()
        or is_locked(directory / SUPERVISOR_LOCK)
    )


def _final(directory: Any, status: ExecutionStatus, message: str) -> dict[str, Any]:
    state = read_json(directory / "state.json") or {"units": {}}
    units = {
        k: (v if ExecutionStatus(v).is_finished else ExecutionStatus.CANCELLED.value)
        for k, v in state.get("units", {}).items()
    }
    state.update(status=status.value, message=message, units=units, finished_at=time.time())
    write_json(directory / "state.json", state)
    return state


def _report(state: dict[str, Any], stopping: bool = False) -> StatusReport:
    status = ExecutionStatus(state["status"])
    if stopping and not status.is_finished:
        status = ExecutionStatus.STOPPING
    return StatusReport(
        status=status,
        native_state=state["status"],
        message=state.get("message"),
        units={k: ExecutionStatus(v) for k, v in state.get("units", {}).items()},
    )


def status(handle: RunHandle) -> StatusReport:
    """Reconcile the recorded state with the supervisor process, every time."""
    directory = run_dir(handle.run_id)
    if not (directory / "submitted").exists():
        from flowyml.core.errors import RunNotFoundError

        raise RunNotFoundError(f"local run {handle.run_id!r} not found under {directory}")
    state = read_json(directory / "state.json")
    if state and ExecutionStatus(state["status"]).is_finished:
        return _report(state)
    pid = supervisor_pid(directory)
    cancel = read_json(directory / "cancel.json")
    if pid is None:
        if state is not None:  # e.g. restored from another machine: report what was recorded
            return _report(state, stopping=bool(cancel))
        if is_locked(directory / SUBMIT_LOCK) or is_locked(directory / SUPERVISOR_LOCK):
            return StatusReport(ExecutionStatus.PENDING, native_state="PENDING")
        if supervisor_pid(directory) is None and (directory / SPAWNED).exists():  # it died before taking the run
            tail = _tail(directory / "supervisor.log")
            message = "the local supervisor exited before it started the run" + (f": {tail}" if tail else "")
            return _report(_final(directory, ExecutionStatus.FAILED, message))
        if supervisor_pid(directory) is not None:
            return status(handle)  # it recorded itself just now
        from flowyml.core.errors import RunNotFoundError

        raise RunNotFoundError(
            f"local run {handle.run_id!r} was never started: its submission ended before the supervisor started"
        )
    if not pid.is_alive():
        state = read_json(directory / "state.json")  # it may have finished just now
        if state and ExecutionStatus(state["status"]).is_finished:
            return _report(state)
        pid.kill_group(signal.SIGKILL)  # leave no orphaned step process behind
        if cancel:
            return _report(_final(directory, ExecutionStatus.CANCELLED, "cancelled"))
        tail = _tail(directory / "supervisor.log")
        return _report(
            _final(
                directory,
                ExecutionStatus.FAILED,
                f"the local supervisor (pid {pid.pid}) died unexpectedly" + (f": {tail}" if tail else ""),
            )
        )
    if cancel and time.time() - cancel["requested_at"] > cancel["grace_period"] + 5:
        pid.kill_group(signal.SIGKILL)  # the supervisor did not stop in time: escalate
    if state is None:
        return StatusReport(
            ExecutionStatus.PENDING, native_state="PENDING", units={u: ExecutionStatus.PENDING for u in handle.units}
        )
    return _report(state, stopping=bool(cancel))


def cancel(handle: RunHandle, config: LocalConfig, graceful: bool) -> bool:
    """SIGTERM the run's process group (SIGKILL if not graceful); the status reads STOPPING until it ends."""
    directory = run_dir(handle.run_id)
    if not directory.is_dir():
        from flowyml.core.errors import RunNotFoundError

        raise RunNotFoundError(f"local run {handle.run_id!r} not found under {directory}")
    state = read_json(directory / "state.json")
    if state and ExecutionStatus(state["status"]).is_finished:
        return False
    if read_json(directory / "cancel.json") is None:
        write_json(directory / "cancel.json", {"requested_at": time.time(), "grace_period": config.grace_period})
    pid = supervisor_pid(directory)
    if pid is not None and pid.is_alive():
        pid.kill_group(signal.SIGTERM if graceful else signal.SIGKILL)
    elif pid is None and not is_locked(directory / SUBMIT_LOCK) and not is_locked(directory / SUPERVISOR_LOCK):
        _final(directory, ExecutionStatus.CANCELLED, "cancelled before it started")  # no supervisor will come
    return True


def details(handle: RunHandle) -> dict[str, Any]:
    directory = run_dir(handle.run_id)
    state = read_json(directory / "state.json") or {}
    pid = supervisor_pid(directory)
    return {
        "run_id": handle.run_id,
        "job_id": handle.job_id,
        "platform": "local",
        "state": state.get("status", "PENDING"),
        "units": state.get("units", {}),
        "unit_exit_codes": state.get("exit_codes", {}),
        "message": state.get("message"),
        "started_at": state.get("started_at"),
        "finished_at": state.get("finished_at"),
        "supervisor_pid": pid.pid if pid else None,
        "run_dir": str(directory),
        "logs_dir": str(directory / "logs"),
    }


def _tail(path: Any, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return " | ".join(text[-lines:])
