"""The ``aws_batch`` backend: one Batch job per execution unit, ``dependsOn`` for the DAG.

A unit with more than 20 upstream units (Batch's ``dependsOn`` limit) waits on *barrier* jobs:
no-op jobs that each depend on up to 20 of them. Every unit's resources are checked against the
job definition's platform (Fargate or EC2) before the first job is created, and a stack's
``docker.image`` runs as a revision of the job definition with that image.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

import attrs

from flowyml.core.errors import ConfigError, RefusedError, RunNotFoundError
from flowyml.core.status import ExecutionStatus
from flowyml.plugins.types import JobSpec, RunHandle, StatusReport
from flowyml.secrets import NATIVE_SECRETS_ENV
from flowyml_aws import batch_secrets, names, resources, states
from flowyml_aws.client import backend_error, call, client_error_message, client_for
from flowyml_aws.config import AWSBatchConfig

log = logging.getLogger("flowyml.aws")
DESCRIBE_LIMIT = 100  # describe_jobs takes at most 100 ids per call
MAX_DEPENDS_ON = 20  # Batch takes at most 20 dependsOn entries per job
#: fields of a job definition description that register_job_definition takes back
_REGISTER_FIELDS = (
    "type",
    "parameters",
    "schedulingPriority",
    "containerProperties",
    "retryStrategy",
    "propagateTags",
    "timeout",
    "tags",
    "platformCapabilities",
)
#: tag of a revision flowyml registered (image, secrets): the ``name:revision`` it was copied from
DERIVED_TAG = "flowyml:derived-from"
_STARTED = {"STARTING", "RUNNING"}
_NOT_STARTED = {"SUBMITTED", "PENDING", "RUNNABLE"}


def _batch(config: AWSBatchConfig) -> Any:
    return client_for("batch", config)


# -- submit ------------------------------------------------------------------------------------
def list_named(config: AWSBatchConfig, run_id: str) -> list[dict]:
    """Every job on the queue whose name starts with the run's prefix (``list_jobs`` summaries, all of them)."""
    from botocore.exceptions import ClientError

    batch = _batch(config)
    prefix = names.batch_name_prefix(config.job_name_prefix, run_id)
    found: list[dict] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {
            "jobQueue": config.job_queue,
            "filters": [{"name": "JOB_NAME", "values": [f"{prefix}*"]}],
        }
        if token:
            kwargs["nextToken"] = token
        try:
            page = call(partial(batch.list_jobs, **kwargs), "aws_batch list_jobs")
        except ClientError as exc:
            raise backend_error(f"aws_batch list_jobs on queue {config.job_queue!r}", exc) from exc
        found += page.get("jobSummaryList", [])
        token = page.get("nextToken")
        if not token:
            return found


def find_existing(config: AWSBatchConfig, run_id: str) -> dict[str, dict]:
    """Jobs of this run a previous (lost) attempt created: job name -> summary."""
    found: dict[str, dict] = {}
    for summary in list_named(config, run_id):
        # Batch names are not unique: keep the newest job of each name
        old = found.get(summary["jobName"])
        if old is None or summary.get("createdAt", 0) > old.get("createdAt", 0):
            found[summary["jobName"]] = summary
    return found


@attrs.define(frozen=True)
class JobDefinition:
    """The job definition a run's jobs use: its ``name:revision``, platform and default resources."""

    ref: str
    platform: str  # "EC2" or "FARGATE"
    defaults: dict[str, str]
    image: str | None


def _describe_definitions(config: AWSBatchConfig, **kwargs: Any) -> list[dict]:
    batch = _batch(config)
    found: list[dict] = []
    while True:
        page = call(partial(batch.describe_job_definitions, **kwargs), "aws_batch describe_job_definitions")
        found += page.get("jobDefinitions", [])
        if not page.get("nextToken"):
            return found
        kwargs["nextToken"] = page["nextToken"]


def _definition_of(doc: Mapping[str, Any]) -> JobDefinition:
    props = doc.get("containerProperties") or {}
    defaults = {r["type"]: str(r["value"]) for r in props.get("resourceRequirements") or []}
    if "VCPU" not in defaults and props.get("vcpus"):
        defaults["VCPU"] = str(props["vcpus"])
    if "MEMORY" not in defaults and props.get("memory"):
        defaults["MEMORY"] = str(props["memory"])
    platform = "FARGATE" if "FARGATE" in (doc.get("platformCapabilities") or []) else "EC2"
    return JobDefinition(f"{doc['jobDefinitionName']}:{doc['revision']}", platform, defaults, props.get("image"))


def _tags(doc: Mapping[str, Any]) -> dict[str, str]:
    return dict(doc.get("tags") or {})


def _content(doc: Mapping[str, Any]) -> tuple[Any, list[tuple[str, str]]]:
    """What flowyml sets in a revision it registers: the image and the ``secrets`` entries."""
    props = doc.get("containerProperties") or {}
    return props.get("image"), sorted((str(s["name"]), str(s["valueFrom"])) for s in props.get("secrets") or [])


def job_definition(
    config: AWSBatchConfig, image: str | None, secrets: list[dict[str, str]] | None = None
) -> JobDefinition:
    """The configured job definition; with ``image`` or ``secrets``, its ACTIVE revision running that
    image with those ``containerProperties.secrets`` added (registered once, then reused).

    A bare name means its latest revision flowyml did not register (``flowyml:derived-from``);
    a revision flowyml registered is reused only for the revision it was derived from.
    """
    wanted = str(config.job_definition)
    revisions: list[dict] | None = None  # every ACTIVE revision of the name, once read
    if wanted.startswith("arn:"):
        docs = _describe_definitions(config, jobDefinitions=[wanted])
    else:  # "name" or "name:revision"
        name, _, number = wanted.partition(":")
        revisions = _describe_definitions(config, jobDefinitionName=name, status="ACTIVE")
        docs = [d for d in revisions if not number or str(d.get("revision")) == number]
        if not number:
            docs = [d for d in docs if DERIVED_TAG not in _tags(d)] or docs
    docs = [d for d in docs if d.get("status", "ACTIVE") == "ACTIVE"]
    if not docs:
        raise RefusedError(
            f"aws_batch: job definition {wanted} does not exist (no ACTIVE revision in "
            f"{_batch(config).meta.region_name}): register it, or fix `job_definition:` in the orchestrator config"
        )
    base = max(docs, key=lambda d: int(d.get("revision", 0)))
    current = _definition_of(base)
    props = base.get("containerProperties") or {}
    desired_props = {**props, "image": image or props.get("image")}
    if secrets:
        desired_props["secrets"] = batch_secrets.merged(props.get("secrets") or [], secrets)
    desired = {**base, "containerProperties": desired_props}
    if _content(desired) == _content(base):
        return current
    name, base_ref = base["jobDefinitionName"], current.ref
    if revisions is None:
        revisions = _describe_definitions(config, jobDefinitionName=name, status="ACTIVE")
    same = [
        d for d in revisions if _content(d) == _content(desired) and _tags(d).get(DERIVED_TAG, base_ref) == base_ref
    ]
    if same:
        return _definition_of(max(same, key=lambda d: int(d.get("revision", 0))))
    changes = [f"docker.image {image!r}"] if image else []
    what = " and ".join([*changes, *(["secrets from Secrets Manager / SSM"] if secrets else [])])
    if not props:
        raise ConfigError(
            f"aws_batch: job definition {name} is not a container job definition, so flowyml cannot run it with "
            f"{what}: register one with containerProperties, or remove them"
        )
    if secrets and not props.get("executionRoleArn"):
        raise ConfigError(
            f"aws_batch: job definition {base_ref} has no executionRoleArn, and Batch injects secrets "
            f"({', '.join(s['name'] for s in secrets)}) with the execution role: register it with one allowed "
            "secretsmanager:GetSecretValue / ssm:GetParameters (and kms:Decrypt for a customer key) on them"
        )
    request = {k: base[k] for k in _REGISTER_FIELDS if base.get(k) not in (None, {}, [])}
    request["containerProperties"] = desired_props
    request["tags"] = {**_tags(base), DERIVED_TAG: base_ref}
    batch = _batch(config)
    made = call(
        lambda: batch.register_job_definition(jobDefinitionName=name, **request),
        f"aws_batch register_job_definition {name} ({what})",
    )
    log.info("registered %s:%s from %s with %s", name, made["revision"], base_ref, what)
    return _definition_of({**request, "jobDefinitionName": name, "revision": made["revision"]})


def _base_request(spec: JobSpec, config: AWSBatchConfig, definition: JobDefinition, unit: str) -> dict[str, Any]:
    tags = {**config.tags, **spec.labels, "flowyml:run-id": spec.run_id, "flowyml:unit": unit}
    return submit_fields(config, definition, tags)


def submit_fields(config: AWSBatchConfig, definition: JobDefinition, tags: dict[str, str]) -> dict[str, Any]:
    """The SubmitJob fields every job of ``config`` carries (queue, definition, tags, the queue's
    options), spelled as boto3 takes them; a schedule's target takes them capitalised."""
    request: dict[str, Any] = {
        "jobQueue": config.job_queue,
        "jobDefinition": definition.ref,
        "tags": {k[:128]: str(v)[:256] for k, v in tags.items()},
        "propagateTags": True,
    }
    if config.parameters:
        request["parameters"] = dict(config.parameters)
    if config.share_identifier:
        request["shareIdentifier"] = config.share_identifier
    if config.scheduling_priority is not None:
        request["schedulingPriorityOverride"] = config.scheduling_priority
    return request


def _depends(deps: list[str]) -> list[dict[str, str]]:
    return [{"jobId": d, "type": "SEQUENTIAL"} for d in deps]


def _submit_request(
    spec: JobSpec, config: AWSBatchConfig, definition: JobDefinition, unit_name: str, deps: list[str], region: str
) -> dict[str, Any]:
    unit = spec.unit(unit_name)
    env = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region, **spec.unit_env(unit_name)}
    native = batch_secrets.native_names(spec.secrets)
    if native:  # Batch sets them from the job definition's `secrets`: the step-runner only masks them
        env[NATIVE_SECRETS_ENV] = ",".join(native)
    overrides: dict[str, Any] = {
        "command": spec.unit_command(unit_name),
        "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
    }
    requirements = resources.requirements(unit.resources)
    if requirements:
        overrides["resourceRequirements"] = requirements
    request = _base_request(spec, config, definition, unit_name)
    request.update(
        jobName=names.batch_job_name(config.job_name_prefix, spec.run_id, unit_name), containerOverrides=overrides
    )
    if deps:
        request["dependsOn"] = _depends(deps)
    if spec.timeout_seconds:
        request["timeout"] = {"attemptDurationSeconds": max(60, int(spec.timeout_seconds))}
    if config.retry_attempts:
        request["retryStrategy"] = {"attempts": config.retry_attempts}
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
                return str(existing["jobId"])
        attempts["n"] += 1
        return str(batch.submit_job(**request)["jobId"])

    try:
        return call(attempt, f"aws_batch submit_job {request['jobName']}")
    except ClientError as exc:
        raise backend_error(f"aws_batch submit_job {request['jobName']}", exc) from exc


def check_resources(spec: JobSpec, definition: JobDefinition) -> None:
    """Every unit's resources against the job definition's platform (before any job exists)."""
    for unit in spec.units:
        values = resources.effective(resources.requirements(unit.resources), definition.defaults)
        resources.check(unit.name, definition.platform, values)


def submit(spec: JobSpec, config: AWSBatchConfig) -> RunHandle:
    """Submit every unit (dependency order, ``dependsOn`` wired through barriers past 20
    dependencies), reusing jobs an earlier attempt made."""
    config.validate()
    definition = job_definition(config, spec.image, batch_secrets.entries(config, spec.secrets))
    check_resources(spec, definition)
    region = _batch(config).meta.region_name
    existing = find_existing(config, spec.run_id)

    def job(name: str, make: Callable[[], dict[str, Any]]) -> str:
        if name in existing:
            return str(existing[name]["jobId"])
        return _submit_one(config, spec.run_id, make())

    job_ids: dict[str, str] = {}
    barriers: dict[str, list[str]] = {}
    for unit in spec.topological_units():
        deps = [job_ids[d] for d in unit.depends_on]
        level = 0
        while len(deps) > MAX_DEPENDS_ON:
            chunks = [deps[i : i + MAX_DEPENDS_ON] for i in range(0, len(deps), MAX_DEPENDS_ON)]
            deps = []
            for index, chunk in enumerate(chunks):
                name = names.batch_barrier_name(config.job_name_prefix, spec.run_id, unit.name, level, index)
                request = {
                    **_base_request(spec, config, definition, unit.name),
                    "jobName": name,
                    "dependsOn": _depends(chunk),
                    "containerOverrides": {"command": [*spec.runner_command, "--help"]},  # a no-op that exists
                }
                request["tags"]["flowyml:barrier"] = "true"
                deps.append(job(name, partial(dict, request)))
            barriers.setdefault(unit.name, []).extend(deps)
            level += 1
        name = names.batch_job_name(config.job_name_prefix, spec.run_id, unit.name)
        job_ids[unit.name] = job(name, partial(_submit_request, spec, config, definition, unit.name, deps, region))
    last = spec.units[-1].name
    return RunHandle(
        backend="aws_batch",
        run_id=spec.run_id,
        job_id=job_ids[last],  # the sink unit's job: a real id, findable in the console
        units=job_ids,
        metadata={
            "job_queue": config.job_queue,
            "job_definition": definition.ref,
            "region": region,
            "barriers": barriers,
            "depends_on": {u.name: list(u.depends_on) for u in spec.units},
        },
    )


def find(spec: JobSpec, config: AWSBatchConfig, existing: Mapping[str, dict] | None = None) -> RunHandle | None:
    """The handle of the jobs an earlier submit of ``spec`` created (by their names), creating nothing.

    None if it created none. Units it never reached are listed as ``never_submitted``: they read
    CANCELLED, so an interrupted run ends instead of waiting for jobs that do not exist.
    ``existing`` (name -> summary, from one ``find_existing`` of a common prefix) saves the listing.
    """
    if existing is None:
        existing = find_existing(config, spec.run_id)
    job_ids: dict[str, str] = {}
    barriers: dict[str, list[str]] = {}
    for unit in spec.topological_units():
        for level in range(8):
            index, found = 0, []
            while (name := names.batch_barrier_name(config.job_name_prefix, spec.run_id, unit.name, level, index)) in (
                existing
            ):
                found.append(str(existing[name]["jobId"]))
                index += 1
            if not found:
                break
            barriers.setdefault(unit.name, []).extend(found)
        name = names.batch_job_name(config.job_name_prefix, spec.run_id, unit.name)
        if name in existing:
            job_ids[unit.name] = str(existing[name]["jobId"])
    if not job_ids and not barriers:
        return None
    missing = [u.name for u in spec.units if u.name not in job_ids]
    return RunHandle(
        backend="aws_batch",
        run_id=spec.run_id,
        job_id=job_ids.get(spec.units[-1].name) or next(iter(job_ids.values()), ""),
        units=job_ids,
        metadata={
            "job_queue": config.job_queue,
            "job_definition": config.job_definition,
            "region": _batch(config).meta.region_name,
            "barriers": barriers,
            "depends_on": {u.name: list(u.depends_on) for u in spec.units},
            "never_submitted": missing,
        },
    )


# -- status ------------------------------------------------------------------------------------
def describe_many(config: AWSBatchConfig, job_ids: Iterable[str]) -> dict[str, dict]:
    """Describe jobs in calls of at most 100 ids: job id -> description."""
    batch = _batch(config)
    ids = list(dict.fromkeys(job_ids))
    found: dict[str, dict] = {}
    for i in range(0, len(ids), DESCRIBE_LIMIT):
        chunk = ids[i : i + DESCRIBE_LIMIT]
        for job in call(partial(batch.describe_jobs, jobs=chunk), "aws_batch describe_jobs")["jobs"]:
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
    for unit in handle.units:
        job = jobs[handle.units[unit]]
        unit_status[unit] = states.batch_unit_status(job)
        native[unit] = job["status"]
        cancel = cancel or states.CANCEL_TAG in (job.get("tags") or {})
        if job["status"] == "FAILED":
            messages.append(_failure_text(unit, job))
    for unit in handle.metadata.get("never_submitted") or []:
        unit_status[unit] = ExecutionStatus.CANCELLED
        native[unit] = "NotSubmitted"
        messages.append(f"unit {unit}: never submitted (the submitting process ended first)")
    status = states.run_status(unit_status, cancel_requested=cancel)
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
    barriers = [j for ids in (handle.metadata.get("barriers") or {}).values() for j in ids]
    jobs = describe_many(config, [*handle.units.values(), *barriers])
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
                partial(batch.tag_resource, resourceArn=arn, tags={states.CANCEL_TAG: stamp}),
                "aws_batch tag_resource",
            )
        except ClientError as exc:  # e.g. no batch:TagResource: cancel anyway, STOPPING shows only here
            log.warning("cannot tag %s as cancel-requested (%s); cancelling it anyway", arn, client_error_message(exc))
    reason = f"{states.CANCEL_REASON} (run {handle.run_id})"
    for job in open_jobs:
        jid = job["jobId"]
        if job["status"] in _NOT_STARTED:
            call(partial(batch.cancel_job, jobId=jid, reason=reason), "aws_batch cancel_job")
        else:
            call(partial(batch.terminate_job, jobId=jid, reason=reason), "aws_batch terminate_job")
    return True


# -- details -----------------------------------------------------------------------------------
def console_url(region: str | None, job_id: str) -> str:
    return f"https://{region}.console.aws.amazon.com/batch/home?region={region}#jobs/detail/{job_id}"


def details(handle: RunHandle, config: AWSBatchConfig) -> dict[str, Any]:
    region = _batch(config).meta.region_name
    jobs = describe_many(config, handle.units.values())
    report = report_for(handle, jobs)
    units = {}
    for unit in handle.units:
        jid = handle.units[unit]
        job = jobs[jid]
        container = job.get("container") or {}
        units[unit] = {
            "job_id": jid,
            "job_name": job.get("jobName"),
            "job_arn": job.get("jobArn"),
            "state": job.get("status"),
            "status": report.units[unit].name,
            "status_reason": job.get("statusReason"),
            "exit_code": container.get("exitCode"),
            "created_at": _ms(job.get("createdAt")),
            "started_at": _ms(job.get("startedAt")),
            "stopped_at": _ms(job.get("stoppedAt")),
            "depends_on": [d.get("jobId") for d in job.get("dependsOn") or []],
            "log_group": config.log_group,
            "log_stream": container.get("logStreamName"),
            "console_url": console_url(region, jid),
        }
    return {
        "backend": "aws_batch",
        "run_id": handle.run_id,
        "job_id": handle.job_id,
        "status": report.status.name,
        "native_state": report.native_state,
        "message": report.message,
        "region": region,
        "job_queue": config.job_queue,
        "job_definition": handle.metadata.get("job_definition") or config.job_definition,
        "units": units,
        "console_url": f"https://{region}.console.aws.amazon.com/batch/home?region={region}#jobs",
    }


def _ms(value: Any) -> float | None:
    return None if value is None else float(value) / 1000.0


# -- logs --------------------------------------------------------------------------------------
def log_sources(handle: RunHandle, config: AWSBatchConfig) -> list[tuple[str, str, str]]:
    """(unit, log group, stream) of every attempt of every unit's job that has started, in unit order."""
    jobs = describe_many(config, handle.units.values())
    sources = []
    for unit in handle.units:
        jid = handle.units[unit]
        job = jobs.get(jid) or {}
        streams = [((a.get("container") or {}).get("logStreamName")) for a in job.get("attempts") or []]
        streams.append((job.get("container") or {}).get("logStreamName"))
        for stream in dict.fromkeys(s for s in streams if s):
            sources.append((unit, config.log_group, stream))
    return sources
