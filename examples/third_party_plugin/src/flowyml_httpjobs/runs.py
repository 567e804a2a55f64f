"""Status, cancel and details of a submitted run, read from the server every time."""

from __future__ import annotations

from typing import Any

from flowyml.core.errors import RunNotFoundError
from flowyml.plugins.types import RunHandle, StatusReport
from flowyml_httpjobs.client import Client
from flowyml_httpjobs.config import HttpJobsConfig
from flowyml_httpjobs.states import run_state, to_status
from flowyml_httpjobs.submit import RUN_LABEL


def unit_order(handle: RunHandle) -> list[str]:
    """The run's units in dependency order (the handle's dict order is lost in JSON)."""
    return list(handle.metadata.get("unit_order") or handle.units)


def run_jobs(handle: RunHandle, config: HttpJobsConfig) -> dict[str, dict[str, Any]]:
    """unit -> the server's job, in one request for the whole run."""
    jobs = {j["name"]: j for j in Client(config).list_jobs(RUN_LABEL, handle.run_id, what="read run status")}
    found = {unit: jobs[handle.units[unit]] for unit in unit_order(handle) if handle.units[unit] in jobs}
    if not found:
        raise RunNotFoundError(f"the httpjobs server at {config.url} has no jobs for run {handle.run_id!r}")
    return found


def status(handle: RunHandle, config: HttpJobsConfig) -> StatusReport:
    jobs = run_jobs(handle, config)
    native = run_state(job["state"] for job in jobs.values())
    failed = [job for job in jobs.values() if job["state"] in ("FAILED", "TIMED_OUT")]
    message = None
    if failed:
        message = f"job {failed[0]['name']}: {failed[0]['message']}"
    elif to_status(native).is_finished and native != "SUCCEEDED":
        message = next((j["message"] for j in jobs.values() if j["message"]), None)
    return StatusReport(
        status=to_status(native),
        native_state=native,
        message=message,
        units={unit: to_status(job["state"]) for unit, job in jobs.items()},
    )


def cancel(handle: RunHandle, config: HttpJobsConfig, graceful: bool) -> bool:
    """Cancel every unfinished job, dependants first (so none starts meanwhile); True if any was."""
    client = Client(config)
    jobs = run_jobs(handle, config)
    requested = False
    for unit in reversed(list(jobs)):
        if not to_status(jobs[unit]["state"]).is_finished:
            requested = client.cancel_job(jobs[unit]["name"], graceful) or requested
    return requested


def details(handle: RunHandle, config: HttpJobsConfig) -> dict[str, Any]:
    jobs = run_jobs(handle, config)
    base = config.url.rstrip("/")
    return {
        "run_id": handle.run_id,
        "job_id": handle.job_id,
        "platform": "httpjobs",
        "server": base,
        "state": run_state(job["state"] for job in jobs.values()),
        "jobs": {
            unit: {
                "name": job["name"],
                "state": job["state"],
                "status": to_status(job["state"]).value,
                "exit_code": job["exit_code"],
                "message": job["message"],
                "created_at": job["created_at"],
                "started_at": job["started_at"],
                "finished_at": job["finished_at"],
                "url": f"{base}/jobs/{job['name']}",
            }
            for unit, job in jobs.items()
        },
    }


def is_finished(handle: RunHandle, config: HttpJobsConfig) -> bool:
    return status(handle, config).status.is_finished
