"""The one table from Azure ML job (and run-history run) states to :class:`ExecutionStatus`."""

from __future__ import annotations

from flowyml.core.status import ExecutionStatus

S = ExecutionStatus

#: Every status Azure ML reports for a job or a run (azure-ai-ml's ``JobStatus``).
NATIVE_STATES: dict[str, ExecutionStatus] = {
    "NotStarted": S.PENDING,
    "Starting": S.PROVISIONING,
    "Provisioning": S.PROVISIONING,
    "Preparing": S.PROVISIONING,
    "Queued": S.QUEUED,
    "Running": S.RUNNING,
    "Finalizing": S.RUNNING,  # user code ended; outputs and logs are being uploaded
    "CancelRequested": S.STOPPING,
    "Completed": S.COMPLETED,
    "Failed": S.FAILED,
    "Canceled": S.CANCELLED,
    # Not finished, and nothing we can claim about them: the job may still recover or resume.
    "NotResponding": S.UNKNOWN,
    "Paused": S.UNKNOWN,
    "Unknown": S.UNKNOWN,
}

_LOWER = {k.lower(): v for k, v in NATIVE_STATES.items()}


def to_status(native: str | None) -> ExecutionStatus:
    """Map a native state (case-insensitive); anything unknown is UNKNOWN, never FAILED."""
    if not native:
        return S.UNKNOWN
    return _LOWER.get(str(native).lower(), S.UNKNOWN)
