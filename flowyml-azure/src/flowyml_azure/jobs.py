"""Status, cancel and details of a submitted run (a command job or a pipeline job)."""

from __future__ import annotations

from typing import Any

from flowyml.core.errors import RunNotFoundError, TransientBackendError
from flowyml.core.status import ExecutionStatus
from flowyml.plugins.types import RunHandle, StatusReport
from flowyml_azure.client import get_job, ml_client, refused, retrying, transient
from flowyml_azure.config import AzureMLConfig
from flowyml_azure.names import job_name
from flowyml_azure.runhistory import run_history
from flowyml_azure.states import to_status

#: States after which Azure ML will not accept a cancel (and none is needed).
_ENDED = {"completed", "failed", "canceled"}


def is_pipeline(handle: RunHandle) -> bool:
    return handle.metadata.get("job_type") == "pipeline"


def child_runs(handle: RunHandle, config: AzureMLConfig) -> dict[str, dict[str, Any]]:
    """Unit -> its child run of a pipeline job (units whose node has not started are absent)."""
    by_key: dict[str, str] = {}
    for name, node in handle.units.items():
        by_key[name] = name
        by_key[node] = name
    found: dict[str, dict[str, Any]] = {}
    for run in run_history(config).children(handle.job_id):
        tags = run.get("tags") or {}
        keys = (tags.get("flowyml.unit"), run.get("displayName"), run.get("name"))
        unit = next((by_key[k] for k in keys if k in by_key), None)
        if unit is None:
            continue
        previous = found.get(unit)
        if previous is None or str(run.get("createdUtc") or "") >= str(previous.get("createdUtc") or ""):
            found[unit] = run
    return found


def error_text(run: dict[str, Any] | None) -> str | None:
    """The message of a run-history error (``{"error": {"code", "message"}}``)."""
    if not run:
        return None
    err = run.get("error") or {}
    inner = err.get("error") if isinstance(err.get("error"), dict) else err
    message = (inner or {}).get("message")
    return str(message) if message else None


def failure_message(handle: RunHandle, config: AzureMLConfig, children: dict[str, dict[str, Any]]) -> str:
    """What failed, from run history: each failed unit's error, else the job's own error."""
    history = run_history(config)
    parts = []
    for unit in handle.units:
        run = children.get(unit)
        if run is not None and to_status(run.get("status")) is ExecutionStatus.FAILED:
            text = error_text(run) or error_text(history.details(run["runId"]))
            parts.append(f"unit {unit}: {text or 'failed'}")
    if not parts:
        text = error_text(history.details(handle.job_id))
        if text:
            parts.append(text)
    return "; ".join(parts) or f"Azure ML job {handle.job_id} failed (run history has no error for it)"


def native_state(job: Any) -> str:
    """The job's status as Azure ML spells it (the SDK may hand back an enum)."""
    value = getattr(job, "status", None)
    return str(getattr(value, "value", value) or "Unknown")


def status(handle: RunHandle, config: AzureMLConfig) -> StatusReport:
    job = get_job(config, handle.job_id)
    native = native_state(job)
    overall = to_status(native)
    children: dict[str, dict[str, Any]] = {}
    if is_pipeline(handle):
        children = child_runs(handle, config)
        waiting = overall if overall.is_finished else ExecutionStatus.PENDING
        units = {u: to_status(children[u].get("status")) if u in children else waiting for u in handle.units}
    else:
        units = {u: overall for u in handle.units}
    message = None
    if overall is ExecutionStatus.FAILED:
        try:
            message = failure_message(handle, config, children)
        except TransientBackendError as exc:  # the job's state is known; only its error text is not
            message = f"Azure ML job {handle.job_id} failed (its error could not be read from run history: {exc})"
    return StatusReport(status=overall, native_state=native, message=message, units=units)


#: Every job flowyml submits carries this tag; the jobs list filters on tag keys.
RUN_TAG = "flowyml.run_id"
_NOT_STARTED = (ExecutionStatus.PENDING, ExecutionStatus.QUEUED, ExecutionStatus.PROVISIONING)


def _listed_report(handle: RunHandle, job: Any) -> StatusReport | None:
    """The report a listed job gives on its own, or None for a failed run (its error text lives in
    run history; it is read once, the run having ended).

    The list has no child runs: a pipeline that has not completed reports its units PENDING while
    it has not started and none (``units={}``) after; ``get_status_report(run_id)`` reads them.
    """
    native = native_state(job)
    overall = to_status(native)
    if overall is ExecutionStatus.FAILED:
        return None
    units: dict[str, ExecutionStatus] = {}
    if not is_pipeline(handle) or overall is ExecutionStatus.COMPLETED:
        units = dict.fromkeys(handle.units, overall)
    elif overall in _NOT_STARTED:
        units = dict.fromkeys(handle.units, ExecutionStatus.PENDING)
    return StatusReport(status=overall, native_state=native, units=units)


def status_many(handles: list[RunHandle], config: AzureMLConfig) -> dict[str, StatusReport]:
    """Reports for many runs from the workspace's job list, filtered to flowyml's jobs by tag.

    Reads at most ceil(N / page size) pages (newest jobs first); runs not met by then and failed
    runs are asked one by one; a run whose job is gone reads UNKNOWN.
    """
    wanted = {h.job_id: h for h in handles}
    if not wanted:
        return {}
    ml = ml_client(config)
    pages = iter(ml.jobs.list(tag=RUN_TAG).by_page())
    found: dict[str, StatusReport] = {}
    seen: set[str] = set()
    budget: int | None = None
    while budget is None or budget > 0:
        page = retrying(lambda: list(next(pages, None) or []), "list Azure ML jobs", config)
        if not page:
            break
        if budget is None:
            budget = -(-len(wanted) // len(page))  # ceil(N / page size)
        budget -= 1
        for job in page:
            handle = wanted.get(getattr(job, "name", None) or "")
            if handle is None:
                continue
            seen.add(handle.job_id)
            report = _listed_report(handle, job)
            if report is not None:
                found[handle.run_id] = report
        if len(seen) == len(wanted):
            break
    for handle in handles:  # the rest one by one; a job the workspace lost must not hide the others
        if handle.run_id not in found:
            try:
                found[handle.run_id] = status(handle, config)
            except RunNotFoundError as exc:
                found[handle.run_id] = StatusReport(status=ExecutionStatus.UNKNOWN, message=str(exc))
    return found


def cancel(handle: RunHandle, config: AzureMLConfig) -> bool:
    """``begin_cancel`` without waiting on its poller: the 202 is the answer we need.

    True when a cancel was requested (or already is), False when the job had ended. Core's
    provisional handle (a submission that failed part-way: the run id, no job type) is aimed at
    the job that submission would have made; False if it made none.
    """
    if "job_type" not in handle.metadata:
        try:
            handle = handle.evolve(job_id=job_name(handle.run_id))
            job = get_job(config, handle.job_id)
        except RunNotFoundError:
            return False  # the submission created nothing: nothing to stop
    else:
        job = get_job(config, handle.job_id)
    native = native_state(job).lower()
    if native in _ENDED:
        return False
    if native == "cancelrequested":
        return True
    ml = ml_client(config)
    try:
        retrying(
            lambda: ml.jobs.begin_cancel(handle.job_id, polling=False), f"cancel Azure ML job {handle.job_id}", config
        )
    except Exception as exc:
        if transient(exc):
            raise
        # The job may have ended between our GET and the cancel: then there is nothing to stop.
        if native_state(get_job(config, handle.job_id)).lower() in _ENDED:
            return False
        raise refused(exc, f"cancelling Azure ML job {handle.job_id}") from exc
    return True


def _timing(run: dict[str, Any] | None) -> dict[str, Any]:
    run = run or {}
    return {
        "created_at": run.get("createdUtc"),
        "started_at": run.get("startTimeUtc"),
        "ended_at": run.get("endTimeUtc"),
        "duration": run.get("duration"),
    }


def details(handle: RunHandle, config: AzureMLConfig) -> dict[str, Any]:
    job = get_job(config, handle.job_id)
    history = run_history(config)
    run = history.details(handle.job_id)
    native = native_state(job)
    services = getattr(job, "services", None) or {}
    studio = getattr(services.get("Studio"), "endpoint", None) or handle.metadata.get("studio_url")
    created = getattr(getattr(job, "creation_context", None), "created_at", None)
    result: dict[str, Any] = {
        "job_id": handle.job_id,
        "run_id": handle.run_id,
        "platform": handle.backend,
        "job_type": handle.metadata.get("job_type"),
        "status": to_status(native).name,
        "native_state": native,
        "experiment": getattr(job, "experiment_name", None),
        "display_name": getattr(job, "display_name", None),
        "compute": getattr(job, "compute", None),
        "workspace": config.workspace_name,
        "studio_url": studio,
        **_timing(run),
        "error": error_text(run),
    }
    if created is not None and not result["created_at"]:
        result["created_at"] = created.isoformat() if hasattr(created, "isoformat") else str(created)
    if is_pipeline(handle):
        children = child_runs(handle, config)
        result["children"] = {
            unit: {
                "node": handle.units.get(unit),
                "child_run_id": (children.get(unit) or {}).get("runId"),
                "status": to_status((children.get(unit) or {}).get("status")).name if unit in children else None,
                "native_state": (children.get(unit) or {}).get("status"),
                "compute": (children.get(unit) or {}).get("target"),
                "error": error_text(children.get(unit)),
                **_timing(children.get(unit)),
            }
            for unit in handle.units
        }
    return result
