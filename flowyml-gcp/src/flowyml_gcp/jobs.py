"""Status, cancel and details of a submitted run, for both resource types (CustomJob, PipelineJob)."""

from __future__ import annotations

import logging
import time
from typing import Any

from flowyml.core.errors import RunNotFoundError
from flowyml.core.status import ExecutionStatus
from flowyml.plugins.types import RunHandle, StatusReport
from flowyml_gcp import client as gcp
from flowyml_gcp import names
from flowyml_gcp.config import VertexAIConfig
from flowyml_gcp.states import run_status, task_status
from flowyml_gcp.submit import CUSTOM_JOB, PIPELINE_JOB, console_url, find_custom_job

log = logging.getLogger("flowyml.gcp.jobs")
#: runs per list call in :func:`status_many` (one filter ORs their run keys; also the page size)
LIST_PAGE_SIZE = 100
_NOT_STARTED = (ExecutionStatus.PENDING, ExecutionStatus.QUEUED, ExecutionStatus.PROVISIONING)


def kind_of(handle: RunHandle) -> str:
    return handle.metadata.get("kind") or (PIPELINE_JOB if "/pipelineJobs/" in handle.job_id else CUSTOM_JOB)


def fetch(handle: RunHandle, config: VertexAIConfig) -> Any:
    """The run's job resource now (retried; a 404 is :class:`RunNotFoundError`)."""
    if kind_of(handle) == PIPELINE_JOB:
        c = gcp.pipeline_client(config)
        return gcp.get_or_not_found(
            lambda: c.get_pipeline_job(name=handle.job_id, retry=None, timeout=config.request_timeout),
            f"get PipelineJob {handle.job_id}",
            f"PipelineJob {handle.job_id}",
        )
    c = gcp.job_client(config)
    return gcp.get_or_not_found(
        lambda: c.get_custom_job(name=handle.job_id, retry=None, timeout=config.request_timeout),
        f"get CustomJob {handle.job_id}",
        f"CustomJob {handle.job_id}",
    )


def task_details(handle: RunHandle, job: Any) -> dict[str, Any]:
    """unit -> its PipelineTaskDetail (units whose task has not started are absent).

    ``taskName`` is documented as "the user specified name of the task defined in pipeline_spec":
    that is the DAG key (``load-data``) or the task's display name (``load_data``, KFP's
    ``taskInfo.name``, which the KFP backend reports). Both are read: whichever names more units.
    """
    if kind_of(handle) != PIPELINE_JOB:
        return {}
    by_name = {td.task_name: td for td in job.job_detail.task_details}
    tasks: dict[str, str] = handle.metadata.get("tasks") or {}
    by_key = {unit: by_name[key] for unit, key in tasks.items() if key in by_name}
    by_display = {unit: by_name[unit] for unit in tasks if unit in by_name}
    return by_key if len(by_key) >= len(by_display) else by_display


def _error(job: Any) -> str | None:
    err = getattr(job, "error", None)
    return err.message if err is not None and err.message else None


def _unit_statuses(handle: RunHandle, job: Any, overall: ExecutionStatus, listed: bool) -> dict[str, ExecutionStatus]:
    if kind_of(handle) != PIPELINE_JOB:
        return dict.fromkeys(handle.units, overall)
    if listed:  # the list view has no task details: only what the run's state says of every unit
        if overall is ExecutionStatus.COMPLETED:
            return dict.fromkeys(handle.units, overall)
        return dict.fromkeys(handle.units, ExecutionStatus.PENDING) if overall in _NOT_STARTED else {}
    details = task_details(handle, job)
    out = {}
    for unit in handle.units:
        td = details.get(unit)
        if td is not None:
            out[unit] = task_status(td.state.name)
        elif overall.is_finished:  # never started: the run ended before reaching it
            out[unit] = ExecutionStatus.COMPLETED if overall.is_successful else ExecutionStatus.CANCELLED
        else:
            out[unit] = ExecutionStatus.PENDING
    return out


def report(handle: RunHandle, job: Any, config: VertexAIConfig, listed: bool = False) -> StatusReport:
    """The status report of a fetched job, with flowyml's client-side timeout applied.

    ``listed``: the job came from a list call, whose PipelineJobs carry no task details.
    """
    native = job.state.name
    status = run_status(native)
    message = _error(job)
    deadline = handle.metadata.get("deadline")
    if deadline and time.time() > float(deadline):
        limit = handle.metadata.get("timeout_seconds")
        if status is ExecutionStatus.CANCELLED or (status.is_active and kind_of(handle) == PIPELINE_JOB):
            # Vertex Pipelines have no run timeout of their own: flowyml cancels the run once it is due.
            if status.is_active:
                request_cancel(handle, config, job)
                status = ExecutionStatus.STOPPING
            else:
                status = ExecutionStatus.TIMED_OUT
            message = f"timeout of {limit}s exceeded" + (f"; {message}" if message else "")
    return StatusReport(
        status=status, native_state=native, message=message, units=_unit_statuses(handle, job, status, listed)
    )


def status(handle: RunHandle, config: VertexAIConfig) -> StatusReport:
    return report(handle, fetch(handle, config), config)


def list_jobs(config: VertexAIConfig, kind: str, flt: str) -> list[Any]:
    """Every CustomJob or PipelineJob matching ``flt`` (all pages, one retried unit)."""
    if kind == PIPELINE_JOB:
        pc = gcp.pipeline_client(config)
        return gcp.call(
            lambda: list(
                pc.list_pipeline_jobs(
                    request={"parent": config.location_path, "filter": flt, "page_size": LIST_PAGE_SIZE},
                    retry=None,
                    timeout=config.request_timeout,
                )
            ),
            "list Vertex AI PipelineJobs",
        )
    jc = gcp.job_client(config)
    return gcp.call(
        lambda: list(
            jc.list_custom_jobs(
                request={"parent": config.location_path, "filter": flt, "page_size": LIST_PAGE_SIZE},
                retry=None,
                timeout=config.request_timeout,
            )
        ),
        "list Vertex AI CustomJobs",
    )


def run_key_filter(run_ids: list[str]) -> str:
    """A list filter matching the jobs of these runs by their ``flowyml-run-key`` label."""
    return " OR ".join(f'labels.{names.RUN_KEY_LABEL}="{names.run_key(r)}"' for r in run_ids)


def status_many(handles: list[RunHandle], config: VertexAIConfig) -> dict[str, StatusReport]:
    """Reports for many runs: one list call per :data:`LIST_PAGE_SIZE` runs of each resource type.

    A run the lists do not show is asked for itself; one Vertex AI no longer has reads UNKNOWN
    with the reason, so it hides no other run. A running PipelineJob's per-unit states are not in
    the list view: its ``units`` are empty (``status`` has them).
    """
    reports: dict[str, StatusReport] = {}
    for kind in (CUSTOM_JOB, PIPELINE_JOB):
        group = {h.job_id: h for h in handles if kind_of(h) == kind}
        ordered = list(group.values())
        for start in range(0, len(ordered), LIST_PAGE_SIZE):
            chunk = ordered[start : start + LIST_PAGE_SIZE]
            for job in list_jobs(config, kind, run_key_filter([h.run_id for h in chunk])):
                handle = group.get(job.name)
                if handle is not None:
                    reports[handle.run_id] = report(handle, job, config, listed=True)
    for handle in handles:
        if handle.run_id not in reports:
            try:
                reports[handle.run_id] = status(handle, config)
            except RunNotFoundError as exc:
                reports[handle.run_id] = StatusReport(status=ExecutionStatus.UNKNOWN, message=str(exc))
    return reports


def request_cancel(handle: RunHandle, config: VertexAIConfig, job: Any) -> bool:
    """POST ``:cancel`` on the run's own resource type; False if it had already ended."""
    from google.api_core import exceptions as gexc

    if run_status(job.state.name).is_finished:
        return False
    if kind_of(handle) == PIPELINE_JOB:
        pc = gcp.pipeline_client(config)

        def send() -> None:
            pc.cancel_pipeline_job(name=handle.job_id, retry=None, timeout=config.request_timeout)
    else:
        jc = gcp.job_client(config)

        def send() -> None:
            jc.cancel_custom_job(name=handle.job_id, retry=None, timeout=config.request_timeout)

    try:
        gcp.call(send, f"cancel {handle.job_id}")
    except (gexc.BadRequest, gexc.FailedPrecondition):
        # the job ended between our GET and the cancel: nothing left to stop
        if run_status(fetch(handle, config).state.name).is_finished:
            return False
        raise  # core's translate_error: RefusedError
    log.info("cancellation requested for %s", handle.job_id)
    return True


def cancel(handle: RunHandle, config: VertexAIConfig, graceful: bool = True) -> bool:
    """Vertex AI always stops gracefully (SIGTERM, then a grace period); ``graceful`` is accepted.

    Core's provisional handle (recorded before Vertex AI answered: the run id, no resource name),
    when a submission failed part-way, is aimed at what that submission created first."""
    if has_resource_name(handle):
        return request_cancel(handle, config, fetch(handle, config))
    created = created_by(handle, config)
    try:
        return created is not None and request_cancel(created, config, fetch(created, config))
    except RunNotFoundError:
        return False  # the submission created nothing: nothing to stop


def has_resource_name(handle: RunHandle) -> bool:
    return "/customJobs/" in handle.job_id or "/pipelineJobs/" in handle.job_id


def created_by(handle: RunHandle, config: VertexAIConfig) -> RunHandle | None:
    """A provisional handle aimed at the job its submission made, found as submit's idempotency
    check finds it: a PipelineJob's id comes from the run id (the job may not exist), a CustomJob
    has the run's run-key label (None: there is none)."""
    if len(handle.units) > 1:
        name = f"{config.location_path}/pipelineJobs/{names.pipeline_job_id(handle.run_id)}"
        return handle.evolve(job_id=name, metadata={**handle.metadata, "kind": PIPELINE_JOB})
    found = gcp.call(lambda: find_custom_job(config, handle.run_id), f"find the CustomJob of run {handle.run_id}")
    return None if found is None else handle.evolve(job_id=found.name, metadata={**handle.metadata, "kind": CUSTOM_JOB})


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def details(handle: RunHandle, config: VertexAIConfig) -> dict[str, Any]:
    """States, timings, error, labels and console URL of the run (and of each pipeline task)."""
    job = fetch(handle, config)
    kind = kind_of(handle)
    rep = report(handle, job, config)
    err = getattr(job, "error", None)
    out: dict[str, Any] = {
        "platform": "vertex_ai",
        "kind": kind,
        "job_id": job.name,
        "run_id": handle.run_id,
        "display_name": job.display_name,
        "state": job.state.name,
        "status": rep.status.name,
        "create_time": _iso(job.create_time),
        "start_time": _iso(job.start_time),
        "end_time": _iso(job.end_time),
        "update_time": _iso(job.update_time),
        "error": {"code": err.code, "message": err.message} if err is not None and err.message else None,
        "labels": dict(job.labels),
        "project": config.project_id,
        "region": config.region,
        "console_url": console_url(kind, job.name, config),
        "units": {u: s.name for u, s in rep.units.items()},
    }
    if kind == PIPELINE_JOB:
        out["tasks"] = [
            {
                "unit": unit,
                "task": td.task_name,
                "state": td.state.name,
                "start_time": _iso(td.start_time),
                "end_time": _iso(td.end_time),
                "job": td.executor_detail.container_detail.main_job or None,
                "error": td.error.message or None,
            }
            for unit, td in task_details(handle, job).items()
        ]
    return out
