"""The one status vocabulary every backend maps its native states onto."""

from __future__ import annotations

import enum


class ExecutionStatus(str, enum.Enum):
    """Where a run (or one of its units) is in its lifecycle."""

    PENDING = "PENDING"
    QUEUED = "QUEUED"
    PROVISIONING = "PROVISIONING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    UNKNOWN = "UNKNOWN"

    @property
    def is_finished(self) -> bool:
        """True once the run can no longer change state."""
        return self in _FINISHED

    @property
    def is_successful(self) -> bool:
        """True only for a run that completed without error."""
        return self is ExecutionStatus.COMPLETED

    @property
    def is_active(self) -> bool:
        """True while the run is queued, starting, running or stopping."""
        return not self.is_finished and self is not ExecutionStatus.UNKNOWN

    def __str__(self) -> str:
        return f"ExecutionStatus.{self.name}"


_FINISHED = frozenset(
    {
        ExecutionStatus.COMPLETED,
        ExecutionStatus.FAILED,
        ExecutionStatus.CANCELLED,
        ExecutionStatus.TIMED_OUT,
    }
)
