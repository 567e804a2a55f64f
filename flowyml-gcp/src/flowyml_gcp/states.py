"""The one native-state table for each Vertex AI resource type (CustomJob, PipelineJob, pipeline task)."""

from __future__ import annotations

from flowyml.core.status import ExecutionStatus as S

#: google.cloud.aiplatform.v1.JobState (CustomJob)
JOB_STATES: dict[str, S] = {
    "JOB_STATE_UNSPECIFIED": S.UNKNOWN,
    "JOB_STATE_QUEUED": S.QUEUED,
    "JOB_STATE_PENDING": S.PROVISIONING,
    "JOB_STATE_RUNNING": S.RUNNING,
    "JOB_STATE_SUCCEEDED": S.COMPLETED,
    "JOB_STATE_FAILED": S.FAILED,
    "JOB_STATE_CANCELLING": S.STOPPING,
    "JOB_STATE_CANCELLED": S.CANCELLED,
    "JOB_STATE_PAUSED": S.PENDING,
    "JOB_STATE_EXPIRED": S.TIMED_OUT,
    "JOB_STATE_UPDATING": S.RUNNING,
    # only batch jobs: some work items failed. A flowyml unit either ran whole or it did not.
    "JOB_STATE_PARTIALLY_SUCCEEDED": S.FAILED,
}

#: google.cloud.aiplatform.v1.PipelineState (PipelineJob)
PIPELINE_STATES: dict[str, S] = {
    "PIPELINE_STATE_UNSPECIFIED": S.UNKNOWN,
    "PIPELINE_STATE_QUEUED": S.QUEUED,
    "PIPELINE_STATE_PENDING": S.PROVISIONING,
    "PIPELINE_STATE_RUNNING": S.RUNNING,
    "PIPELINE_STATE_SUCCEEDED": S.COMPLETED,
    "PIPELINE_STATE_FAILED": S.FAILED,
    "PIPELINE_STATE_CANCELLING": S.STOPPING,
    "PIPELINE_STATE_CANCELLED": S.CANCELLED,
    "PIPELINE_STATE_PAUSED": S.PENDING,
}

#: google.cloud.aiplatform.v1.PipelineTaskDetail.State (one unit of a PipelineJob)
TASK_STATES: dict[str, S] = {
    "STATE_UNSPECIFIED": S.PENDING,
    "PENDING": S.PENDING,
    "RUNNING": S.RUNNING,
    "SUCCEEDED": S.COMPLETED,
    "CANCEL_PENDING": S.STOPPING,
    "CANCELLING": S.STOPPING,
    "CANCELLED": S.CANCELLED,
    "FAILED": S.FAILED,
    # skipped (cached or condition false) counts as done; not triggered = an upstream task failed
    "SKIPPED": S.COMPLETED,
    "NOT_TRIGGERED": S.CANCELLED,
}

#: Every native state the backend reports for a run (the two vocabularies do not overlap).
NATIVE_STATES: dict[str, S] = {**JOB_STATES, **PIPELINE_STATES}


def run_status(native_state: str) -> S:
    """A run's status from its CustomJob or PipelineJob state; unknown names are UNKNOWN, never FAILED."""
    return NATIVE_STATES.get(native_state, S.UNKNOWN)


def task_status(native_state: str) -> S:
    return TASK_STATES.get(native_state, S.UNKNOWN)
