"""The ``inprocess`` backend: how the run registry sees runs made in the calling process.

``flowyml run FILE`` without ``--stack`` (and ``flowyml resume`` of such a run) runs the steps
here, in this process (:mod:`flowyml.orchestrators.inprocess`), and records the run like any
other: its job spec, unit results and outputs in the artifact store's run layout, its row in the
run registry. This backend answers ``flowyml runs``, ``status``, ``logs`` and ``cancel`` for
those runs from that record and from whether the process that runs it is still alive. It is not
a stack type: its ``submit`` only accepts a run this process is about to execute.
"""

from __future__ import annotations

import contextvars
import os
import signal
import socket
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from flowyml.core.errors import ArtifactNotFoundError, ConfigError
from flowyml.core.status import ExecutionStatus
from flowyml.plugins import Backend, JobSpec, LogRecord, RunHandle, StatusReport

NAME = "inprocess"
#: Handle metadata: the process that executes the run (host, pid, start time).
PROCESS = "process"
S = ExecutionStatus

#: Set while this process submits a run it executes itself (see ``flowyml.orchestrators.inprocess``).
executing_here: contextvars.ContextVar[bool] = contextvars.ContextVar("flowyml_inprocess_submit", default=False)


def _store(handle: RunHandle) -> Any:
    from flowyml.artifacts.store import ArtifactStore

    return ArtifactStore(handle.artifact_root, handle.metadata.get("store_settings") or {})


def _alive(handle: RunHandle) -> bool | None:
    """True/False for a process on this host; None when it ran on another host (cannot be asked)."""
    from flowyml.plugins.processes import is_alive

    who = handle.metadata.get(PROCESS) or {}
    if who.get("host") != socket.gethostname():
        return None
    return bool(who.get("pid")) and is_alive(int(who["pid"]), who.get("start"))


def outcome(handle: RunHandle) -> dict[str, Any] | None:
    """The outcome document the run wrote when it ended (None while it runs, or if its process died)."""
    from flowyml.orchestrators.layout import RunLayout

    try:
        doc = _store(handle).read_json(RunLayout(handle.run_id).outcome)
    except ArtifactNotFoundError:
        return None
    return doc if isinstance(doc, dict) else None


class InProcessBackend(Backend):
    """Runs made in the calling process (``flowyml run FILE``): recorded, listed, resumable."""

    name = NAME
    description = "Runs made in the calling process (flowyml run FILE without --stack); not a stack type."
    capabilities = frozenset({"cancel", "logs", "details"})
    native_states = {s.value: s for s in ExecutionStatus if s is not ExecutionStatus.UNKNOWN}
    secret_schemes = frozenset({"env"})

    def submit(self, spec: JobSpec, config: Any) -> RunHandle:
        from flowyml.orchestrators.registry import submitter_identity

        if not executing_here.get():
            raise ConfigError(
                "the inprocess backend only records runs that flowyml executes in the calling process "
                "(`flowyml run FILE` without --stack, or pipeline.run()); it is not a stack type: use "
                "`orchestrator: {type: local}` for runs that outlive this process"
            )
        return RunHandle(
            backend=NAME,
            run_id=spec.run_id,
            job_id=spec.run_id,
            units={u.name: "" for u in spec.units},
            metadata={PROCESS: submitter_identity()},
            artifact_root=spec.artifact_root,
            pipeline_name=spec.pipeline_name,
        )

    def find(self, spec: JobSpec, config: Any) -> RunHandle | None:
        return None  # a submit creates nothing outside this process: a lost submission ran nothing

    def status(self, handle: RunHandle, config: Any) -> StatusReport:
        from flowyml.orchestrators.layout import read_unit_results

        results = read_unit_results(_store(handle), handle.run_id)
        done = outcome(handle)
        alive = _alive(handle) if done is None else False
        pending = S.RUNNING if alive else S.CANCELLED
        units = {  # in DAG order, as the spec lists them
            u: (S.COMPLETED if results[u].success else S.FAILED) if u in results else pending for u in handle.units
        }
        if done is not None:
            return StatusReport(
                S(done["status"]), native_state=done["status"], message=done.get("message"), units=units
            )
        if alive:
            return StatusReport(S.RUNNING, native_state=S.RUNNING.value, units=units)
        who = handle.metadata.get(PROCESS) or {}
        if alive is None:
            return StatusReport(S.UNKNOWN, message=f"it runs in a process on {who.get('host')}", units=units)
        message = f"the process that ran it (pid {who.get('pid')}) ended before the run finished"
        return StatusReport(S.FAILED, native_state=S.FAILED.value, message=message, units=units)

    def cancel(self, handle: RunHandle, config: Any, graceful: bool) -> bool:
        """Interrupt the process running it, as Ctrl-C would (SIGINT; SIGTERM when not graceful)."""
        if outcome(handle) is not None or not _alive(handle):
            return False
        os.kill(int(handle.metadata[PROCESS]["pid"]), signal.SIGINT if graceful else signal.SIGTERM)
        return True

    def logs(self, handle: RunHandle, config: Any, cursor: str | None) -> Iterable[LogRecord]:
        """One record per unit that ended (the steps' own output went to the terminal that ran them)."""
        return self._unit_records(handle, cursor)

    def _unit_records(self, handle: RunHandle, cursor: str | None) -> Iterator[LogRecord]:
        from flowyml.orchestrators.layout import read_unit_results
        from flowyml.plugins.cursors import decode_cursor, encode_cursor

        seen = set(decode_cursor(cursor, NAME).get("units", []))
        results = sorted(read_unit_results(_store(handle), handle.run_id).values(), key=lambda r: r.finished_at or 0)
        for r in results:
            if r.unit in seen:
                continue
            seen.add(r.unit)
            took = (r.finished_at or 0) - (r.started_at or 0)
            text = f"unit {r.unit} completed in {took:.3f}s" if r.success else f"unit {r.unit} failed: {r.error}"
            yield LogRecord(
                timestamp=r.finished_at or 0.0,
                message=text,
                severity="INFO" if r.success else "ERROR",
                unit=r.unit,
                cursor=encode_cursor({"units": sorted(seen)}),
            )

    def details(self, handle: RunHandle, config: Any) -> Mapping[str, Any]:
        who = handle.metadata.get(PROCESS) or {}
        return {"platform": NAME, "host": who.get("host"), "pid": who.get("pid"), "outcome": outcome(handle)}
