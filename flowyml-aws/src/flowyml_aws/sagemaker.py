"""The ``sagemaker`` backend: one training job per execution unit, the DAG enforced by flowyml.

SageMaker training jobs have no dependencies of their own, so submit starts the units without
dependencies and every status call *advances* the run: it starts each unit whose dependencies
have all COMPLETED. Someone must therefore poll a multi-unit run (``wait_for_completion``,
``flowyml status``, or any process re-attached to it); nothing is lost if nobody does for a
while — the next status call picks up where the run stood.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from flowyml.core.errors import ConfigError, RunNotFoundError
from flowyml.core.status import ExecutionStatus as S
from flowyml.plugins.types import JobSpec, RunHandle, StatusReport
from flowyml_aws import names, states
from flowyml_aws.client import backend_error, call, client_for, error_code
from flowyml_aws.config import SageMakerConfig

_ACTIVE = {"InProgress", "Stopping"}


def _sm(config: SageMakerConfig) -> Any:
    return client_for("sagemaker", config)


def _is_missing(exc: BaseException) -> bool:
    """SageMaker answers a missing training job with ValidationException "Requested resource not found"."""
    text = str(exc).lower()
    return error_code(exc) in ("ValidationException", "ResourceNotFound") and (
        "not found" in text or "could not find" in text or "does not exist" in text
    )


#: SageMaker's limits on ``Environment`` (entries, key and value length)
ENV_MAX_ENTRIES, ENV_MAX_LEN = 100, 512


def _check_environment(env: dict[str, str]) -> dict[str, str]:
    too_long = sorted(k for k, v in env.items() if len(k) > ENV_MAX_LEN or len(v) > ENV_MAX_LEN)
    if len(env) > ENV_MAX_ENTRIES or too_long:
        raise ConfigError(
            f"sagemaker: the container environment exceeds SageMaker's limits ({ENV_MAX_ENTRIES} variables, "
            f"{ENV_MAX_LEN} characters each): {len(env)} variables, too long: {too_long}; "
            "move large values into the artifact store or the image"
        )
    return env


# -- requests ----------------------------------------------------------------------------------
def training_request(spec: JobSpec, config: SageMakerConfig, unit_name: str) -> dict[str, Any]:
    """The ``CreateTrainingJob`` request for one unit."""
    unit = spec.unit(unit_name)
    image = spec.image or config.image
    if not image:
        raise ConfigError("sagemaker: no image: set docker.image in the stack or `image:` in the orchestrator config")
    output = config.output_path or (
        f"{spec.artifact_root.rstrip('/')}/sagemaker" if spec.artifact_root.startswith("s3://") else None
    )
    if not output:
        raise ConfigError("sagemaker: set `output_path:` (an s3:// URI) or use an s3:// artifact store")
    resource: dict[str, Any] = {
        "InstanceType": names.sagemaker_instance_type(unit.resources, config.default_instance_type),
        "InstanceCount": config.default_instance_count,
        "VolumeSizeInGB": config.volume_size_gb,
    }
    if config.volume_kms_key_id:
        resource["VolumeKmsKeyId"] = config.volume_kms_key_id
    tags = {**config.tags, **spec.labels, "flowyml:run-id": spec.run_id, "flowyml:unit": unit_name}
    runtime = int(spec.timeout_seconds) if spec.timeout_seconds else config.max_runtime_seconds
    request: dict[str, Any] = {
        "TrainingJobName": names.sagemaker_job_name(config.job_name_prefix, spec.run_id, unit_name),
        "RoleArn": config.role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "ContainerEntrypoint": spec.unit_command(unit_name),
        },
        "Environment": _check_environment(spec.unit_env(unit_name)),
        "ResourceConfig": resource,
        "OutputDataConfig": {"S3OutputPath": output},
        "StoppingCondition": {"MaxRuntimeInSeconds": max(1, runtime)},
        "Tags": [{"Key": k[:128], "Value": str(v)[:256]} for k, v in tags.items()],
    }
    if config.subnets:
        request["VpcConfig"] = {"Subnets": list(config.subnets), "SecurityGroupIds": list(config.security_group_ids)}
    return request


def _describe(config: SageMakerConfig, name: str) -> dict | None:
    from botocore.exceptions import ClientError

    sm = _sm(config)
    try:
        return call(lambda: sm.describe_training_job(TrainingJobName=name), "sagemaker describe_training_job")
    except ClientError as exc:
        if _is_missing(exc):
            return None
        raise backend_error(f"sagemaker describe_training_job {name}", exc) from exc


def _create(config: SageMakerConfig, request: dict[str, Any]) -> None:
    """Create one training job; a retry first checks whether the lost attempt created it."""
    from botocore.exceptions import ClientError

    sm = _sm(config)
    name = request["TrainingJobName"]
    tries = {"n": 0}

    def attempt() -> None:
        if tries["n"] and _describe(config, name) is not None:
            return
        tries["n"] += 1
        sm.create_training_job(**request)

    try:
        call(attempt, f"sagemaker create_training_job {name}")
    except ClientError as exc:
        if error_code(exc) == "ResourceInUse":
            return  # created by an earlier attempt
        raise backend_error(f"sagemaker create_training_job {name}", exc) from exc


# -- submit ------------------------------------------------------------------------------------
def submit(spec: JobSpec, config: SageMakerConfig) -> RunHandle:
    """Start the units without dependencies; the others start from ``status`` as their inputs complete."""
    config.validate()
    plan: dict[str, dict[str, Any]] = {
        u.name: {"depends_on": list(u.depends_on), "request": training_request(spec, config, u.name)}
        for u in spec.topological_units()
    }
    for unit in spec.topological_units():
        if not unit.depends_on:
            request = plan[unit.name]["request"]
            if _describe(config, request["TrainingJobName"]) is None:
                _create(config, request)
    job_names = {u: p["request"]["TrainingJobName"] for u, p in plan.items()}
    last = spec.units[-1].name
    return RunHandle(
        backend="sagemaker",
        run_id=spec.run_id,
        job_id=job_names[last],
        units=job_names,
        metadata={"region": config.region, "plan": plan},
    )


# -- status ------------------------------------------------------------------------------------
def _plan(handle: RunHandle) -> dict[str, dict]:
    plan = handle.metadata.get("plan")
    if not plan:
        raise RunNotFoundError(f"sagemaker: run {handle.run_id!r} has no submission plan in its handle")
    return plan


def _cancel_requested(config: SageMakerConfig, jobs: dict[str, dict]) -> bool:
    sm = _sm(config)
    for job in jobs.values():
        arn = job.get("TrainingJobArn")
        if arn:
            tags = call(partial(sm.list_tags, ResourceArn=arn), "sagemaker list_tags").get("Tags", [])
            return any(t.get("Key") == states.CANCEL_TAG for t in tags)
    return False


def _unit_states(handle: RunHandle, config: SageMakerConfig) -> tuple[dict[str, dict], dict[str, S]]:
    """Describe the units that can exist: a unit is only ever created once its dependencies completed,
    so units behind an unfinished dependency are not asked about (one call per unit that matters)."""
    plan = _plan(handle)
    jobs: dict[str, dict] = {}
    unit_status: dict[str, S] = {}
    for unit in handle.units:
        name = handle.units[unit]
        if any(unit_status.get(d) is not S.COMPLETED for d in plan[unit]["depends_on"]):
            continue
        job = _describe(config, name)
        if job is not None:
            jobs[unit] = job
            unit_status[unit] = states.sagemaker_unit_status(job["TrainingJobStatus"], job.get("SecondaryStatus"))
    return jobs, unit_status


def status(handle: RunHandle, config: SageMakerConfig, advance: bool = True) -> StatusReport:
    """The run's status; starts every unit whose dependencies have completed (unless cancelled)."""
    plan = _plan(handle)
    jobs, unit_status = _unit_states(handle, config)
    if not jobs and all(plan[u]["depends_on"] for u in plan):
        raise RunNotFoundError(f"sagemaker: no training job of run {handle.run_id!r} exists")
    ready: list[str] = []
    skipped: dict[str, str] = {}
    for unit in handle.units:
        if unit in unit_status:
            continue
        deps = plan[unit]["depends_on"]
        ended = [
            d for d in deps if d in unit_status and unit_status[d].is_finished and unit_status[d] is not S.COMPLETED
        ]
        ended += [d for d in deps if skipped.get(d)]
        if ended:
            skipped[unit] = f"not started: dependency {ended[0]} did not complete"
        elif all(unit_status.get(d) is S.COMPLETED for d in deps):
            ready.append(unit)
    cancel = bool(ready) and _cancel_requested(config, jobs)
    for unit in ready:
        if cancel or not advance:
            continue
        _create(config, plan[unit]["request"])
        unit_status[unit] = S.QUEUED
    full: dict[str, S] = {}
    native: dict[str, str] = {}
    for unit in handle.units:
        if unit in jobs:
            job = jobs[unit]
            native[unit] = "/".join(p for p in (job["TrainingJobStatus"], job.get("SecondaryStatus")) if p)
            full[unit] = unit_status[unit]
        elif unit in unit_status:
            native[unit] = "Created"
            full[unit] = unit_status[unit]
        elif unit in skipped or cancel:
            native[unit] = "NotStarted"
            full[unit] = S.CANCELLED
        else:
            native[unit] = "NotStarted"
            full[unit] = S.PENDING
    messages = [f"unit {u}: {j.get('FailureReason')}" for u, j in jobs.items() if j.get("FailureReason")]
    run_status = states.run_status(full, cancel_requested=cancel)
    return StatusReport(
        status=run_status, native_state=states.native_summary(native), message="; ".join(messages) or None, units=full
    )


# -- cancel ------------------------------------------------------------------------------------
def cancel(handle: RunHandle, config: SageMakerConfig) -> bool:
    """Mark the run cancelled (tag on its jobs: no further unit starts) and stop running jobs."""
    from botocore.exceptions import ClientError

    sm = _sm(config)
    jobs, unit_status = _unit_states(handle, config)
    open_units = [u for u in handle.units if u not in unit_status or not unit_status[u].is_finished]
    if not open_units or not jobs:
        return False
    report = status(handle, config, advance=False)
    if report.status.is_finished:
        return False
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for job in jobs.values():
        arn = job["TrainingJobArn"]
        try:
            call(
                partial(sm.add_tags, ResourceArn=arn, Tags=[{"Key": states.CANCEL_TAG, "Value": stamp}]),
                "sagemaker add_tags",
            )
        except ClientError as exc:  # the tag is what stops the next units from starting: say what is missing
            raise backend_error(f"sagemaker add_tags {arn} (needs sagemaker:AddTags to cancel)", exc) from exc
    for job in jobs.values():
        if job["TrainingJobStatus"] != "InProgress":
            continue
        name = job["TrainingJobName"]
        try:
            call(partial(sm.stop_training_job, TrainingJobName=name), "sagemaker stop_training_job")
        except ClientError as exc:
            if error_code(exc) != "ValidationException":  # it ended between describe and stop
                raise backend_error(f"sagemaker stop_training_job {name}", exc) from exc
    return True


# -- details -----------------------------------------------------------------------------------
def console_url(region: str | None, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/jobs/{name}"


def logs_url(region: str | None, name: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
        f"$252Faws$252Fsagemaker$252FTrainingJobs$3FlogStreamNameFilter$3D{name}"
    )


def details(handle: RunHandle, config: SageMakerConfig) -> dict[str, Any]:
    report = status(handle, config, advance=False)
    jobs, _ = _unit_states(handle, config)
    units: dict[str, Any] = {}
    for unit in handle.units:
        name = handle.units[unit]
        job = jobs.get(unit) or {}
        resource = job.get("ResourceConfig") or _plan(handle)[unit]["request"]["ResourceConfig"]
        units[unit] = {
            "training_job_name": name,
            "training_job_arn": job.get("TrainingJobArn"),
            "state": job.get("TrainingJobStatus", "NotStarted"),
            "secondary_status": job.get("SecondaryStatus"),
            "status": report.units[unit].value,
            "failure_reason": job.get("FailureReason"),
            "depends_on": _plan(handle)[unit]["depends_on"],
            "instance_type": resource.get("InstanceType"),
            "instance_count": resource.get("InstanceCount"),
            "created_at": _ts(job.get("CreationTime")),
            "started_at": _ts(job.get("TrainingStartTime")),
            "ended_at": _ts(job.get("TrainingEndTime")),
            "billable_seconds": job.get("BillableTimeInSeconds"),
            "model_artifacts": (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
            "secondary_status_transitions": [
                {"status": t.get("Status"), "message": t.get("StatusMessage")}
                for t in job.get("SecondaryStatusTransitions") or []
            ],
            "console_url": console_url(config.region, name),
            "logs_url": logs_url(config.region, name),
        }
    return {
        "backend": "sagemaker",
        "run_id": handle.run_id,
        "job_id": handle.job_id,
        "status": report.status.value,
        "native_state": report.native_state,
        "message": report.message,
        "region": config.region,
        "role_arn": config.role_arn,
        "units": units,
        "console_url": f"https://{config.region}.console.aws.amazon.com/sagemaker/home?region={config.region}#/jobs",
    }


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


# -- logs --------------------------------------------------------------------------------------
def log_sources(handle: RunHandle, config: SageMakerConfig) -> list[tuple[str, str, str]]:
    """(unit, log group, stream) of every instance of every unit's training job (``<job>/algo-N-<epoch>``)."""
    logs = client_for("logs", config)
    sources = []
    for unit in handle.units:
        name = handle.units[unit]
        kwargs: dict[str, Any] = {"logGroupName": config.log_group, "logStreamNamePrefix": f"{name}/"}
        streams: list[str] = []
        while True:
            try:
                page = call(partial(logs.describe_log_streams, **kwargs), "cloudwatch describe_log_streams")
            except Exception as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    break
                raise
            streams += [s["logStreamName"] for s in page.get("logStreams", [])]
            if not page.get("nextToken") or page.get("nextToken") == kwargs.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        sources += [(unit, config.log_group, s) for s in sorted(streams)]
    return sources
