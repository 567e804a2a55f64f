"""The ``ray`` backend's one state table, and how a run's status is read from the job and its units.

A run is one Ray Job: its state (``PENDING``, ``RUNNING``, ``STOPPED``, ``SUCCEEDED``,
``FAILED``) decides the run's status. Two refinements come from flowyml itself: a cancel was
requested while the job still runs (``RUNNING/stop-requested``: STOPPING until Ray confirms), the
driver ended the run at its timeout (``FAILED/timed-out``), and the driver has published that every
unit succeeded while its process is still exiting (``RUNNING/finished``: COMPLETED, since the
outputs are all in the store; Ray calls the job SUCCEEDED 0.3 to 1 s later). Units are Ray tasks
whose states the driver publishes (``UNIT_STATES``).
"""

from __future__ import annotations

from collections.abc import Mapping

from flowyml.core.status import ExecutionStatus as S

STOP_REQUESTED, TIMED_OUT, FINISHED = "stop-requested", "timed-out", "finished"

#: Ray Job states (``JobSubmissionClient.get_job_info().status``), with flowyml's refinements.
JOB_STATES: dict[str, S] = {
    "PENDING": S.QUEUED,  # waiting for the driver to start (runtime_env set-up, entrypoint resources)
    f"PENDING/{STOP_REQUESTED}": S.STOPPING,
    "RUNNING": S.RUNNING,
    f"RUNNING/{STOP_REQUESTED}": S.STOPPING,
    f"RUNNING/{FINISHED}": S.COMPLETED,  # the driver published its success and is exiting
    "STOPPED": S.CANCELLED,
    "SUCCEEDED": S.COMPLETED,
    "FAILED": S.FAILED,
    f"FAILED/{STOP_REQUESTED}": S.CANCELLED,  # the driver was killed while stopping
    f"FAILED/{TIMED_OUT}": S.TIMED_OUT,
}

#: Unit (Ray task) states the driver publishes in the run's progress document.
UNIT_STATES: dict[str, S] = {
    "PENDING": S.PENDING,  # submitted to Ray; waiting for its dependencies or resources
    "RUNNING": S.RUNNING,
    "SUCCEEDED": S.COMPLETED,
    "FAILED": S.FAILED,
    "CANCELLED": S.CANCELLED,  # stopped, or never run because a dependency failed
    "TIMED_OUT": S.TIMED_OUT,
}


def job_native_state(job_state: str, stop_requested: bool, timed_out: bool, succeeded: bool = False) -> str:
    """The refined native state: ``RUNNING/finished`` (the driver published ``succeeded``),
    ``RUNNING/stop-requested``, ``FAILED/timed-out`` or the job state."""
    if succeeded and job_state == "RUNNING":
        return f"RUNNING/{FINISHED}"
    if timed_out and job_state == "FAILED":
        return f"FAILED/{TIMED_OUT}"
    if stop_requested and f"{job_state}/{STOP_REQUESTED}" in JOB_STATES:
        return f"{job_state}/{STOP_REQUESTED}"
    return job_state


def run_status(native: str) -> S:
    return JOB_STATES.get(native, S.UNKNOWN)


def unit_statuses(units: list[str], published: Mapping[str, str], run: S) -> dict[str, S]:
    """Each unit's status from the states the driver published; once the run ended, a unit that had
    not finished reads CANCELLED (the job stopped under it)."""
    result: dict[str, S] = {}
    for unit in units:
        status = UNIT_STATES.get(published.get(unit, "PENDING"), S.UNKNOWN)
        if run.is_finished and not status.is_finished:
            status = S.COMPLETED if run is S.COMPLETED else S.CANCELLED
        result[unit] = status
    return result
