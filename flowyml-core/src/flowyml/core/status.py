"""The one status vocabulary every backend maps its native states onto.

Values are lowercase, as in FlowyML (``ExecutionStatus("running") is ExecutionStatus.RUNNING``);
the upper-case names flowyml 0.x stored (``"COMPLETED"``) are still accepted, so old run
registries and state files read as before. People see the names (``COMPLETED``).
"""

from __future__ import annotations

__all__ = ["ExecutionStatus"]

import enum


class ExecutionStatus(str, enum.Enum):
    """Where a run (or one of its units) is in its lifecycle."""

    # before anything runs
    SUBMITTING = "submitting"  # the run registry holds the row; the backend has not accepted the run yet
    PENDING = "pending"
    QUEUED = "queued"
    INITIALIZING = "initializing"
    PROVISIONING = "provisioning"
    # running, or on the way out
    RUNNING = "running"
    STOPPING = "stopping"
    CANCELLING = "cancelling"
    # finished well
    COMPLETED = "completed"
    CACHED = "cached"
    # finished badly
    FAILED = "failed"
    STOPPED = "stopped"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    DEAD = "dead"
    # the backend cannot tell
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> ExecutionStatus | None:
        """Accept any case (``"COMPLETED"``, ``"Running"``): upper-case values from flowyml 0.x."""
        if isinstance(value, str):
            return cls._value2member_map_.get(value.strip().lower())  # type: ignore[return-value]
        return None

    @property
    def is_finished(self) -> bool:
        """True once the run can no longer change state."""
        return self in _FINISHED

    @property
    def is_successful(self) -> bool:
        """True for a run that completed without error (``COMPLETED``, or ``CACHED``)."""
        return self in _SUCCESSFUL

    @property
    def is_failed(self) -> bool:
        """True for a run that ended without completing: failed, stopped, cancelled, timed out or dead."""
        return self in _FINISHED and self not in _SUCCESSFUL

    @property
    def is_active(self) -> bool:
        """True while the run is queued, starting, running or stopping."""
        return not self.is_finished and self is not ExecutionStatus.UNKNOWN

    @property
    def label(self) -> str:
        """What people see: the upper-case name (``COMPLETED``)."""
        return self.name

    def __str__(self) -> str:
        return f"ExecutionStatus.{self.name}"


_SUCCESSFUL = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.CACHED})
_FINISHED = frozenset(
    {
        *_SUCCESSFUL,
        ExecutionStatus.FAILED,
        ExecutionStatus.STOPPED,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.TIMED_OUT,
        ExecutionStatus.DEAD,
    }
)
