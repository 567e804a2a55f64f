"""The one native-state table of the job server, and how a run's jobs add up to one state."""

from __future__ import annotations

from collections.abc import Iterable

from flowyml.core.status import ExecutionStatus

#: Every state the server reports, and what it means to flowyml.
NATIVE_STATES: dict[str, ExecutionStatus] = {
    "QUEUED": ExecutionStatus.QUEUED,
    "RUNNING": ExecutionStatus.RUNNING,
    "CANCELLING": ExecutionStatus.STOPPING,
    "SUCCEEDED": ExecutionStatus.COMPLETED,
    "FAILED": ExecutionStatus.FAILED,
    "CANCELLED": ExecutionStatus.CANCELLED,
    "TIMED_OUT": ExecutionStatus.TIMED_OUT,
}


def to_status(native: str) -> ExecutionStatus:
    """A job's status; a state this table does not know is UNKNOWN, never FAILED."""
    return NATIVE_STATES.get(native, ExecutionStatus.UNKNOWN)


def run_state(native_states: Iterable[str]) -> str:
    """The run's native state from its jobs' states (one job per execution unit).

    Unfinished: CANCELLING if any job is stopping, QUEUED if none has started, else RUNNING.
    Finished: FAILED beats TIMED_OUT beats CANCELLED beats SUCCEEDED.
    """
    states = list(native_states)
    if not states:
        return "QUEUED"
    if any(not to_status(s).is_finished for s in states):
        if "CANCELLING" in states:
            return "CANCELLING"
        unknown = [s for s in states if s not in NATIVE_STATES]
        if unknown:
            return unknown[0]
        return "QUEUED" if all(s == "QUEUED" for s in states) else "RUNNING"
    for state in ("FAILED", "TIMED_OUT", "CANCELLED"):
        if state in states:
            return state
    return "SUCCEEDED"
