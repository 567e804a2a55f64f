"""The native-state tables of AWS Batch and SageMaker (jobs, pipeline executions and their steps)."""

from __future__ import annotations

from collections.abc import Mapping

from flowyml.core.status import ExecutionStatus as S
from flowyml.plugins.runstate import aggregate

#: AWS Batch job states (``describe_jobs`` ``status``). A FAILED job whose reason is our cancel
#: reason, or that carries the cancel tag, is CANCELLED; one that hit its timeout is TIMED_OUT.
BATCH_STATES: dict[str, S] = {
    "SUBMITTED": S.QUEUED,
    "PENDING": S.QUEUED,  # waiting for dependencies
    "RUNNABLE": S.QUEUED,  # waiting for compute capacity
    "STARTING": S.PROVISIONING,
    "RUNNING": S.RUNNING,
    "SUCCEEDED": S.COMPLETED,
    "FAILED": S.FAILED,
}

#: SageMaker: a single-unit run is one training job (``TrainingJobStatus`` and, where it refines it,
#: ``Status/SecondaryStatus``); a multi-unit run is a pipeline execution (``Pipeline/<status>``).
SAGEMAKER_STATES: dict[str, S] = {
    "InProgress": S.RUNNING,
    "InProgress/Pending": S.QUEUED,
    "InProgress/Starting": S.PROVISIONING,
    "InProgress/LaunchingMLInstances": S.PROVISIONING,
    "InProgress/PreparingTrainingStack": S.PROVISIONING,
    "InProgress/Downloading": S.PROVISIONING,
    "InProgress/DownloadingTrainingImage": S.PROVISIONING,
    "InProgress/Training": S.RUNNING,
    "InProgress/Uploading": S.RUNNING,
    "InProgress/Restarting": S.PROVISIONING,
    "InProgress/Updating": S.RUNNING,
    "InProgress/Interrupted": S.PROVISIONING,  # managed spot: waits for capacity, then resumes
    "Stopping": S.STOPPING,
    "Stopped": S.CANCELLED,
    "Stopped/MaxRuntimeExceeded": S.TIMED_OUT,
    "Stopped/MaxWaitTimeExceeded": S.TIMED_OUT,
    "Completed": S.COMPLETED,
    "Failed": S.FAILED,
    "Failed/MaxRuntimeExceeded": S.TIMED_OUT,
    # a multi-unit run is a pipeline execution (``PipelineExecutionStatus``)
    "Pipeline/Executing": S.RUNNING,
    "Pipeline/Stopping": S.STOPPING,
    "Pipeline/Stopped": S.CANCELLED,
    "Pipeline/Failed": S.FAILED,
    "Pipeline/Succeeded": S.COMPLETED,
}

#: A pipeline step's ``StepStatus`` -> the status of its unit (a unit with no step yet is PENDING,
#: or CANCELLED once the execution ended: it never started).
SAGEMAKER_STEP_STATES: dict[str, S] = {
    "Starting": S.PROVISIONING,
    "Executing": S.RUNNING,
    "Stopping": S.STOPPING,
    "Stopped": S.CANCELLED,
    "Failed": S.FAILED,
    "Succeeded": S.COMPLETED,
}

#: The reason flowyml gives Batch when it cancels; FAILED with this reason reads CANCELLED.
CANCEL_REASON = "flowyml: cancelled by user"
#: Tag put on every job of a run when a cancel was requested (STOPPING until AWS confirms).
CANCEL_TAG = "flowyml:cancel-requested"
BATCH_TIMEOUT_REASON = "Job attempt duration exceeded timeout"
#: Batch fails a job whose dependency failed with this reason: it never started (CANCELLED).
BATCH_DEPENDENCY_REASON = "Dependent Job failed"


def batch_unit_status(job: Mapping) -> S:
    """The status of one Batch job description."""
    state = str(job.get("status", ""))
    status = BATCH_STATES.get(state, S.UNKNOWN)
    tags = job.get("tags") or {}
    reason = str(job.get("statusReason") or "")
    if status is S.FAILED:
        if reason.startswith(CANCEL_REASON) or CANCEL_TAG in tags:
            return S.CANCELLED
        if reason.startswith(BATCH_TIMEOUT_REASON):
            return S.TIMED_OUT
        if reason.startswith(BATCH_DEPENDENCY_REASON):
            return S.CANCELLED
    return status


def sagemaker_unit_status(primary: str, secondary: str | None) -> S:
    """The status of one training job from its ``TrainingJobStatus`` and ``SecondaryStatus``."""
    if secondary:
        refined = SAGEMAKER_STATES.get(f"{primary}/{secondary}")
        if refined is not None:
            return refined
    return SAGEMAKER_STATES.get(primary, S.UNKNOWN)


def run_status(units: Mapping[str, S], cancel_requested: bool = False) -> S:
    """A run's status from its units' (core's :func:`~flowyml.plugins.runstate.aggregate`).

    A unit AWS could not describe makes the run UNKNOWN; a requested cancel reads STOPPING
    until every unit has ended.
    """
    values = list(units.values())
    if not values or S.UNKNOWN in values:
        return S.UNKNOWN
    if cancel_requested:
        values = [v if v.is_finished else S.STOPPING for v in values]
    return aggregate(values)


def native_summary(states: Mapping[str, str]) -> str:
    """``"prep=SUCCEEDED, total=RUNNING"`` (or the single state of a one-unit run)."""
    if len(states) == 1:
        return next(iter(states.values()))
    return ", ".join(f"{unit}={state}" for unit, state in states.items())
