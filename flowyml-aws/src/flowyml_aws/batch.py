"""The ``aws_batch`` backend: one Batch job per execution unit, ``dependsOn`` for the DAG."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from flowyml.core.errors import RunNotFoundError
from flowyml.core.status import ExecutionStatus
from flowyml.plugins.types import JobSpec, RunHandle, StatusReport
from flowyml_aws import names, states
from flowyml_aws.client import backend_error, call, client_error_message, client_for
from flowyml_aws.config import AWSBatchConfig

log = logging.getLogger("flowyml.aws")
DESCRIBE_LIMIT = 100  # describe_jobs takes at most 100 ids per call
_STARTED = {"STARTING", "RUNNING"}
_NOT_STARTED = {"SUBMITTED", "PENDING", "RUNNABLE"}


def _batch(config: AWSBatchConfig) -> Any:
    return client_for("batch", config)


# -- submit ------------------------------------------------------------------------------------
def find_existing(config: AWSBatchConfig, run_id: str) -> dict[str, dict]:
    """Jobs of this run a previous (lost) attempt created: job name -> summary."""
    from botocore.exceptions import ClientError

    batch = _batch(config)
    prefix = names.batch_name_prefix(config.job_name_prefix, run_id)
    found: dict[str, dict] = {}
    token = None
    while True:
        kwargs: dict[str, Any] = {
            "jobQueue": config.job_queue,
            "filters": [{"name": "JOB_NAME", "values": [f"{prefix}*"]}],
        }
        if token:
            kwargs["nextToken"] = token
        try:
            page = call(lambda kw=kwargs: batch.list_jobs(**kw), "aws_batch list_jobs")
        except ClientError as exc:
            raise backend_error(f"aws_batch list_jobs on queue {config.job_queue!r}", exc) from exc
        for summary in page.get("jobSummaryList", []):
            # Batch names are not unique: keep the newest job of each name
            old = found.get(summary["jobName"])
            if old is None or summary.get("createdAt", 0) > old.get("createdAt", 0):
                found[summary["jobName"]] = summary
        token = page.get("nextToken")
        if not token:
            return found


def _submit_request(spec: JobSpec, config: AWSBatchConfig, unit_name: str, deps: list[str]) -> dict[str, Any]:
    unit = spec.unit(unit_name)
    env = spec.unit_env(unit_name)
    overrides: dict[str, Any] = {
        "command": spec.unit_command(unit_name),
        "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
    }
    requirements = names.batch_resource_requirements(unit.resources)
    if requirements:
        overrides["resourceRequirements"] = requirements
    tags = {**config.tags, **spec.labels, "flowyml:run-id": spec.run_id, "flowyml:unit": unit_name}
    request: dict[str, Any] = {
        "jobName": names.batch_job_name(config.job_name_prefix, spec.run_id, unit_name),
        "jobQueue": config.job_queue,
        "jobDefinition": config.job_definition,
        "containerOverrides": overrides,
        "tags": {k[:128]: str(v)[:256] for k, v in tags.items()},
        "propagateTags": True,
    }
    if config.parameters:
        request["parameters"] = dict(config.parameters)
    if deps:
        request["dependsOn"] = [{"jobId": d, "type": "SEQUENTIAL"} for d in deps]
    if spec.timeout_seconds:
        request["timeout"] = {"attemptDurationSeconds": max(60, int(spec.timeout_seconds))}
    if config.retry_attempts:
        request["retryStrategy"] = {"attempts": config.retry_attempts}
    if config.share_identifier:
        request["shareIdentifier"] = config.share_identifier
    if config.scheduling_priority is not None:
        request["schedulingPriorityOverride"] = config.scheduling_priority
    return request


def _submit_one(config: AWSBatchConfig, run_id: str, request: dict[str, Any]) -> str:
    """Submit one job; after a failed attempt, look for the job it may have created first."""
    from botocore.exceptions import ClientError

    batch = _batch(config)
    attempts = {"n": 0}

    def attempt() -> str:
        if attempts["n"]:
            existing = find_existing(config, run_id).get(request["jobName"])
            if existing is not None:
                return existing["jobId"]
        attempts["n"] += 1
        return batch.submit_job(**request)["jobId"]

    try:
        return call(attempt, f"aws_batch submit_job {request['jobName']}")
    except ClientError as exc:
        raise backend_error(f"aws_batch submit_job {request['jobName']}", exc) from exc


def submit(spec: JobSpec, config: AWSBatchConfig) -> RunHandle:
    """Submit every unit (dependency order, ``dependsOn`` wired), reusing jobs an earlier attempt made."""
    config.validate()
    existing = find_existing(config, spec.run_id)
    job_ids: dict[str, str] = {}
    for unit in spec.topological_units():
        name = names.batch_job_name(config.job_name_prefix, spec.run_id, unit.name)
        if name in existing:
            job_ids[unit.name] = existing[name]["jobId"]
            continue
        request = _submit_request(spec, config, unit.name, [job_ids[d] for d in unit.depends_on])
        job_ids[unit.name] = _submit_one(config, spec.run_id, request)
    last = spec.units[-1].name
    return RunHandle(
        backend="aws_batch",
        run_id=spec.run_id,
        job_id=job_ids[last],  # the sink unit's job: a real id, findable in the console
        units=job_ids,
        metadata={
            "job_queue": config.job_queue,
            "job_definition": config.job_definition,
            "region": config.region,
            "job_ids": list(job_ids.values()),
            "order": list(job_ids),
            "depends_on": {u.name: list(u.depends_on) for u in spec.units},
        },
    )


# -- status ------------------------------------------------------------------------------------
def unit_order(handle: RunHandle) -> list[str]:
    """The units in submission (dependency) order; the registry stores handles with sorted keys."""
    order = [u for u in handle.metadata.get("order", []) if u in handle.units]
    return order if len(order) == len(handle.units) else list(handle.units)


def describe_many(config: AWSBatchConfig, job_ids: Iterable[str]) -> dict[str, dict]:
    """Describe jobs in calls of at most 100 ids: job id -> description."""
    batch = _batch(config)
    ids = list(dict.fromkeys(job_ids))
    found: dict[str, dict] = {}
    for i in range(0, len(ids), DESCRIBE_LIMIT):
        chunk = ids[i : i + DESCRIBE_LIMIT]
        for job in call(lambda c=chunk: batch.describe_jobs(jobs=c), "aws_batch describe_jobs")["jobs"]:
            found[job["jobId"]] = job
    return found


def report_for(handle: RunHandle, jobs: Mapping[str, dict]) -> StatusReport:
    """A run's status report from its jobs' descriptions."""
    missing = [u for u, jid in handle.units.items() if jid not in jobs]
    if missing:
        raise RunNotFoundError(
            f"aws_batch: no job for unit(s) {missing} of run {handle.run_id!r} "
            f"(ids {[handle.units[u] for u in missing]})"
        )
    unit_status: dict[str, ExecutionStatus] = {}
    native: dict[str, str] = {}
    messages: list[str] = []
    cancel = False
    for unit in unit_order(handle):
        job = jobs[handle.units[unit]]
        unit_status[unit] = states.batch_unit_status(job)
        native[unit] = job["status"]
        cancel = cancel or states.CANCEL_TAG in (job.get("tags") or {})
        if job["status"] == "FAILED":
            messages.append(_failure_text(unit, job))
    status = states.aggregate(unit_status, cancel_requested=cancel)
    message = "; ".join(messages) or None
    return StatusReport(status=status, native_state=states.native_summary(native), message=message, units=unit_status)


def _failure_text(unit: str, job: Mapping) -> str:
    text = f"unit {unit}: {job.get('statusReason') or 'job failed'}"
    code = (job.get("container") or {}).get("exitCode")
    if code is None:
        attempts = job.get("attempts") or []
        code = ((attempts[-1] if attempts else {}).get("container") or {}).get("exitCode")
    if code is not None:
        text += f" (exit code {code})"
    return text


def status(handle: RunHandle, config: AWSBatchConfig) -> StatusReport:
    return poll_many([handle], config, strict=True)[handle.run_id]


def poll_many(handles: Iterable[RunHandle], config: AWSBatchConfig, *, strict: bool = False) -> dict[str, StatusReport]:
    """Status of many runs with ``ceil(jobs / 100)`` ``describe_jobs`` calls: run id -> report.

    A run whose jobs Batch no longer knows reads UNKNOWN with the reason (``strict``: raises
    ``RunNotFoundError``), so one expired run does not hide the others.
    """
    handles = list(handles)
    jobs = describe_many(config, (jid for h in handles for jid in h.units.values()))
    reports: dict[str, StatusReport] = {}
    for handle in handles:
        try:
            reports[handle.run_id] = report_for(handle, jobs)
        except RunNotFoundError as exc:
            if strict:
                raise
            reports[handle.run_id] = StatusReport(status=ExecutionStatus.UNKNOWN, message=str(exc))
    return reports


# -- cancel ------------------------------------------------------------------------------------
def cancel(handle: RunHandle, config: AWSBatchConfig) -> bool:
    """Tag every unfinished job as cancel-requested, then ``cancel_job`` the queued and
    ``terminate_job`` the started ones. False when every job had already ended."""
    from botocore.exceptions import ClientError

    batch = _batch(config)
    jobs = describe_many(config, handle.units.values())
    open_jobs = [j for j in jobs.values() if j["status"] not in ("SUCCEEDED", "FAILED")]
    if not open_jobs:
        return False
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for job in open_jobs:
        arn = job.get("jobArn")
        if not arn:
            continue
        try:
            call(
                lambda a=arn: batch.tag_resource(resourceArn=a, tags={states.CANCEL_TAG: stamp}),
                "aws_batch tag_resource",
            )
        except ClientError as exc:  # e.g. no batch:TagResource: cancel anyway, STOPPING shows only here
            log.warning("cannot tag %s as cancel-requested (%s); cancelling it anyway", arn, client_error_message(exc))
    reason = f"{states.CANCEL_REASON} (run {handle.run_id})"
    for job in open_jobs:
        jid = job["jobId"]
        if job["status"] in _NOT_STARTED:
            call(lambda j=jid: batch.cancel_job(jobId=j, reason=reason), "aws_batch cancel_job")
        else:
            call(lambda j=jid: batch.terminate_job(jobId=j, reason=reason), "aws_batch terminate_job")
    return True


# -- details -----------------------------------------------------------------------------------
def console_url(region: str | None, job_id: str) -> str:
    return f"https://{region}.console.aws.amazon.com/batch/home?region={region}#jobs/detail/{job_id}"


def details(handle: RunHandle, config: AWSBatchConfig) -> dict[str, Any]:
    jobs = describe_many(config, handle.units.values())
    report = report_for(handle, jobs)
    units = {}
    for unit in unit_order(handle):
        jid = handle.units[unit]
        job = jobs[jid]
        container = job.get("container") or {}
        units[unit] = {
            "job_id": jid,
            "job_name": job.get("jobName"),
            "job_arn": job.get("jobArn"),
            "state": job.get("status"),
            "status": report.units[unit].value,
            "status_reason": job.get("statusReason"),
            "exit_code": container.get("exitCode"),
            "created_at": _ms(job.get("createdAt")),
            "started_at": _ms(job.get("startedAt")),
            "stopped_at": _ms(job.get("stoppedAt")),
            "depends_on": [d.get("jobId") for d in job.get("dependsOn") or []],
            "log_group": config.log_group,
            "log_stream": container.get("logStreamName"),
            "console_url": console_url(config.region, jid),
        }
    return {
        "backend": "aws_batch",
        "run_id": handle.run_id,
        "job_id": handle.job_id,
        "status": report.status.value,
        "native_state": report.native_state,
        "message": report.message,
        "region": config.region,
        "job_queue": config.job_queue,
        "job_definition": config.job_definition,
        "units": units,
        "console_url": f"https://{config.region}.console.aws.amazon.com/batch/home?region={config.region}#jobs",
    }


def _ms(value: Any) -> float | None:
    return None if value is None else float(value) / 1000.0


# -- logs --------------------------------------------------------------------------------------
def log_sources(handle: RunHandle, config: AWSBatchConfig) -> list[tuple[str, str, str]]:
    """(unit, log group, stream) of every attempt of every unit's job that has started, in unit order."""
    jobs = describe_many(config, handle.units.values())
    sources = []
    for unit in unit_order(handle):
        jid = handle.units[unit]
        job = jobs.get(jid) or {}
        streams = [((a.get("container") or {}).get("logStreamName")) for a in job.get("attempts") or []]
        streams.append((job.get("container") or {}).get("logStreamName"))
        for stream in dict.fromkeys(s for s in streams if s):
            sources.append((unit, config.log_group, stream))
    return sources
