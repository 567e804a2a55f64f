"""A run's status from its units' statuses — the one aggregation rule every backend shares."""

from __future__ import annotations

__all__ = ["aggregate"]

from collections.abc import Iterable

from flowyml.core.status import ExecutionStatus

S = ExecutionStatus

_ACTIVE = (S.RUNNING, S.STOPPING, S.PROVISIONING, S.QUEUED)


def aggregate(units: Iterable[ExecutionStatus]) -> ExecutionStatus:
    """The run's status: FAILED/TIMED_OUT once every unit ended and one failed; CANCELLED when a
    cancel ended it; COMPLETED when all completed; else the most advanced active state.

    A unit that never started because a dependency failed reads CANCELLED (there is no SKIPPED).
    """
    states = list(units)
    if not states:
        return S.PENDING
    if all(s.is_finished for s in states):
        for final in (S.FAILED, S.TIMED_OUT, S.CANCELLED):
            if final in states:
                return final
        return S.COMPLETED
    if S.UNKNOWN in states:
        return S.UNKNOWN  # a unit we cannot read: never guess FAILED (or RUNNING)
    if S.STOPPING in states:
        return S.STOPPING
    for active in _ACTIVE:
        if active in states:
            return active
    return S.RUNNING if any(s.is_finished for s in states) else S.PENDING
