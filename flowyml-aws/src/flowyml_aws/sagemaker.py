"""The ``sagemaker`` backend: a single-unit run is one training job; a multi-unit run is a
SageMaker Pipeline of ``Training`` steps whose ``DependsOn`` is the DAG.

The pipeline runs the DAG inside AWS: nobody has to poll, and status calls only read. Each run
gets its own pipeline (named from the run id) and one execution started with a
``ClientRequestToken`` derived from the run id, so a retried submit finds what it created.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from flowyml.core.errors import ConfigError, RunNotFoundError
from flowyml.core.status import ExecutionStatus as S
from flowyml.plugins.types import JobSpec, RunHandle, StatusReport
from flowyml_aws import names, states
from flowyml_aws import pipeline_definition as pdef
from flowyml_aws.client import backend_error, call, client_error_message, client_for, error_code
from flowyml_aws.config import SageMakerConfig

MODE_JOB, MODE_PIPELINE = "training_job", "pipeline"
#: SageMaker's limits on ``Environment`` (entries, key and value length)
ENV_MAX_ENTRIES, ENV_MAX_LEN = 100, 512


def _sm(config: SageMakerConfig) -> Any:
    return client_for("sagemaker", config)


def _is_missing(exc: BaseException) -> bool:
    """SageMaker answers a missing resource with ValidationException "... not found" / "does not exist"."""
    text = str(exc).lower()
    return error_code(exc) in ("ValidationException", "ResourceNotFound") and (
        "not found" in text or "could not find" in text or "does not exist" in text
    )


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
def training_request(spec: JobSpec, config: SageMakerConfig, unit_name: str, region: str) -> dict[str, Any]:
    """The ``CreateTrainingJob`` request for one unit (a pipeline step's ``Arguments`` without the name)."""
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
    env = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region, **spec.unit_env(unit_name)}
    request: dict[str, Any] = {
        "TrainingJobName": names.sagemaker_job_name(config.job_name_prefix, spec.run_id, unit_name),
        "RoleArn": config.role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "ContainerEntrypoint": spec.unit_command(unit_name),
        },
        "Environment": _check_environment(env),
        "ResourceConfig": resource,
        "OutputDataConfig": {"S3OutputPath": output},
        "StoppingCondition": {"MaxRuntimeInSeconds": max(1, runtime)},
        "Tags": [{"Key": k[:128], "Value": str(v)[:256]} for k, v in tags.items()],
    }
    if config.subnets:
        request["VpcConfig"] = {"Subnets": list(config.subnets), "SecurityGroupIds": list(config.security_group_ids)}
    return request


def _describe_job(config: SageMakerConfig, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    sm = _sm(config)
    try:
        return call(partial(sm.describe_training_job, TrainingJobName=name), "sagemaker describe_training_job")
    except ClientError as exc:
        if _is_missing(exc):
            return None
        raise backend_error(f"sagemaker describe_training_job {name}", exc) from exc


def _create_once(what: str, exists: Any, create: Any) -> None:
    """``create()`` with retries; a retry first asks ``exists()`` whether the lost attempt made it."""
    from botocore.exceptions import ClientError

    tries = {"n": 0}

    def attempt() -> None:
        if tries["n"] and exists():
            return
        tries["n"] += 1
        create()

    try:
        call(attempt, what)
    except ClientError as exc:
        if error_code(exc) == "ResourceInUse" or "already exists" in str(exc):
            return  # created by an earlier attempt
        raise backend_error(what, exc) from exc


# -- submit ------------------------------------------------------------------------------------
def submit(spec: JobSpec, config: SageMakerConfig) -> RunHandle:
    """One unit: its training job. Several: the run's pipeline, and one execution of it."""
    config.validate()
    sm = _sm(config)
    region = str(sm.meta.region_name)
    requests = {u.name: training_request(spec, config, u.name, region) for u in spec.units}
    if len(spec.units) == 1:
        request = requests[spec.units[0].name]
        name = request["TrainingJobName"]
        if _describe_job(config, name) is None:
            _create_once(
                f"sagemaker create_training_job {name}",
                lambda: _describe_job(config, name) is not None,
                partial(sm.create_training_job, **request),
            )
        return _job_handle(spec, name, region)
    return _submit_pipeline(spec, config, requests, region)


def _job_handle(spec: JobSpec, name: str, region: str) -> RunHandle:
    return RunHandle(
        backend="sagemaker",
        run_id=spec.run_id,
        job_id=name,
        units={spec.units[0].name: name},
        metadata={"mode": MODE_JOB, "region": region},
    )


def _pipeline_handle(spec: JobSpec, pipeline: str, arn: str, region: str) -> RunHandle:
    return RunHandle(
        backend="sagemaker",
        run_id=spec.run_id,
        job_id=arn,
        units=pdef.step_names(spec),
        metadata={
            "mode": MODE_PIPELINE,
            "pipeline_name": pipeline,
            "region": region,
            "depends_on": {u.name: list(u.depends_on) for u in spec.units},
        },
    )


def find(spec: JobSpec, config: SageMakerConfig) -> RunHandle | None:
    """The training job or pipeline execution an earlier submit of ``spec`` started, creating nothing."""
    region = str(_sm(config).meta.region_name)
    if len(spec.units) == 1:
        name = names.sagemaker_job_name(config.job_name_prefix, spec.run_id, spec.units[0].name)
        return _job_handle(spec, name, region) if _describe_job(config, name) is not None else None
    pipeline = names.sagemaker_pipeline_name(config.job_name_prefix, spec.run_id)
    found = _executions(config, pipeline) if _pipeline_exists(config, pipeline) else []
    return _pipeline_handle(spec, pipeline, str(found[0]["PipelineExecutionArn"]), region) if found else None


def _executions(config: SageMakerConfig, pipeline: str) -> list[dict[str, Any]]:
    from botocore.exceptions import ClientError

    sm = _sm(config)
    try:
        page = call(partial(sm.list_pipeline_executions, PipelineName=pipeline), "sagemaker list_pipeline_executions")
    except ClientError as exc:
        if _is_missing(exc):
            return []
        raise backend_error(f"sagemaker list_pipeline_executions {pipeline}", exc) from exc
    return list(page.get("PipelineExecutionSummaries") or [])


def _pipeline_exists(config: SageMakerConfig, pipeline: str) -> bool:
    from botocore.exceptions import ClientError

    sm = _sm(config)
    try:
        call(partial(sm.describe_pipeline, PipelineName=pipeline), "sagemaker describe_pipeline")
    except ClientError as exc:
        if _is_missing(exc):
            return False
        raise backend_error(f"sagemaker describe_pipeline {pipeline}", exc) from exc
    return True


def _submit_pipeline(
    spec: JobSpec, config: SageMakerConfig, requests: Mapping[str, dict[str, Any]], region: str
) -> RunHandle:
    sm = _sm(config)
    pipeline = names.sagemaker_pipeline_name(config.job_name_prefix, spec.run_id)
    body = pdef.encode(pdef.definition(spec, requests))
    existing = _executions(config, pipeline) if _pipeline_exists(config, pipeline) else None
    parallelism: dict[str, Any] = {}
    if config.max_parallel_steps:
        parallelism["ParallelismConfiguration"] = {"MaxParallelExecutionSteps": config.max_parallel_steps}
    if existing is None:
        tags = {**config.tags, **spec.labels, "flowyml:run-id": spec.run_id}
        _create_once(
            f"sagemaker create_pipeline {pipeline}",
            lambda: _pipeline_exists(config, pipeline),
            partial(
                sm.create_pipeline,
                PipelineName=pipeline,
                PipelineDefinition=body,
                PipelineDescription=f"flowyml run {spec.run_id} of {spec.pipeline_name}"[:3072],
                RoleArn=config.role_arn,
                ClientRequestToken=names.client_token(spec.run_id, "pipeline"),
                Tags=[{"Key": k[:128], "Value": str(v)[:256]} for k, v in tags.items()],
                **parallelism,
            ),
        )
        existing = []
    elif not existing:  # created by a lost attempt that never started it: make sure it is this definition
        call(
            partial(
                sm.update_pipeline,
                PipelineName=pipeline,
                PipelineDefinition=body,
                RoleArn=config.role_arn,
                **parallelism,
            ),
            f"sagemaker update_pipeline {pipeline}",
        )
    arn = str(existing[0]["PipelineExecutionArn"]) if existing else _start(config, spec.run_id, pipeline)
    return _pipeline_handle(spec, pipeline, arn, region)


def _start(config: SageMakerConfig, run_id: str, pipeline: str) -> str:
    """Start the run's one execution; a retry after a lost answer finds it instead of starting another."""
    sm = _sm(config)
    tries = {"n": 0}

    def attempt() -> str:
        if tries["n"]:
            found = _executions(config, pipeline)
            if found:
                return str(found[0]["PipelineExecutionArn"])
        tries["n"] += 1
        answer = sm.start_pipeline_execution(
            PipelineName=pipeline,
            PipelineExecutionDisplayName=pipeline[:82].rstrip("-"),
            ClientRequestToken=names.client_token(run_id, "execution"),
        )
        return str(answer["PipelineExecutionArn"])

    from botocore.exceptions import ClientError

    try:
        return call(attempt, f"sagemaker start_pipeline_execution {pipeline}")
    except ClientError as exc:
        raise backend_error(f"sagemaker start_pipeline_execution {pipeline}", exc) from exc


# -- reading a run -----------------------------------------------------------------------------
def _mode(handle: RunHandle) -> str:
    return str(handle.metadata.get("mode") or (MODE_PIPELINE if len(handle.units) > 1 else MODE_JOB))


def _execution(config: SageMakerConfig, handle: RunHandle) -> dict[str, Any]:
    from botocore.exceptions import ClientError

    sm = _sm(config)
    try:
        return call(
            partial(sm.describe_pipeline_execution, PipelineExecutionArn=handle.job_id),
            "sagemaker describe_pipeline_execution",
        )
    except ClientError as exc:
        if _is_missing(exc):
            raise RunNotFoundError(f"sagemaker: no pipeline execution {handle.job_id} (run {handle.run_id!r})") from exc
        raise backend_error(f"sagemaker describe_pipeline_execution {handle.job_id}", exc) from exc


def _steps(config: SageMakerConfig, handle: RunHandle) -> dict[str, dict[str, Any]]:
    """Step name -> its latest attempt, from ``list_pipeline_execution_steps`` (all pages)."""
    sm = _sm(config)
    kwargs: dict[str, Any] = {"PipelineExecutionArn": handle.job_id, "SortOrder": "Ascending"}
    found: dict[str, dict[str, Any]] = {}
    while True:
        page = call(partial(sm.list_pipeline_execution_steps, **kwargs), "sagemaker list_pipeline_execution_steps")
        for step in page.get("PipelineExecutionSteps") or []:
            found[step["StepName"]] = step  # ascending: a retried step's last attempt wins
        if not page.get("NextToken"):
            return found
        kwargs["NextToken"] = page["NextToken"]


def _job_name(step: Mapping[str, Any]) -> str | None:
    arn = ((step.get("Metadata") or {}).get("TrainingJob") or {}).get("Arn")
    return str(arn).rsplit("/", 1)[-1] if arn else None


def _pipeline_report(
    handle: RunHandle, execution: Mapping[str, Any], steps: Mapping[str, dict[str, Any]]
) -> StatusReport:
    native = str(execution.get("PipelineExecutionStatus", ""))
    status = states.SAGEMAKER_STATES.get(f"Pipeline/{native}", S.UNKNOWN)
    units: dict[str, S] = {}
    messages = []
    for unit, step_name in handle.units.items():
        step = steps.get(step_name)
        if step is None:
            units[unit] = S.CANCELLED if status.is_finished else S.PENDING
            continue
        units[unit] = states.SAGEMAKER_STEP_STATES.get(str(step.get("StepStatus")), S.UNKNOWN)
        if step.get("FailureReason"):
            messages.append(f"unit {unit}: {step['FailureReason']}")
    if not messages and execution.get("FailureReason"):
        messages.append(str(execution["FailureReason"]))
    return StatusReport(
        status=status, native_state=f"Pipeline/{native}", message="; ".join(messages) or None, units=units
    )


def _job_report(handle: RunHandle, config: SageMakerConfig) -> tuple[StatusReport, dict[str, Any]]:
    (unit, name), *_ = handle.units.items()
    job = _describe_job(config, name)
    if job is None:
        raise RunNotFoundError(f"sagemaker: no training job {name} (run {handle.run_id!r})")
    status = states.sagemaker_unit_status(job["TrainingJobStatus"], job.get("SecondaryStatus"))
    native = "/".join(p for p in (job["TrainingJobStatus"], job.get("SecondaryStatus")) if p)
    reason = job.get("FailureReason")
    report = StatusReport(
        status=status, native_state=native, message=f"unit {unit}: {reason}" if reason else None, units={unit: status}
    )
    return report, job


def status(handle: RunHandle, config: SageMakerConfig) -> StatusReport:
    """The run's status. Reads only: the DAG advances inside SageMaker."""
    if _mode(handle) == MODE_JOB:
        return _job_report(handle, config)[0]
    return _pipeline_report(handle, _execution(config, handle), _steps(config, handle))


# -- cancel ------------------------------------------------------------------------------------
def cancel(handle: RunHandle, config: SageMakerConfig) -> bool:
    """Stop the training job or the pipeline execution; False if the run had already ended."""
    from botocore.exceptions import ClientError

    sm = _sm(config)
    report = status(handle, config)
    if report.status.is_finished or report.status is S.STOPPING:
        return report.status is S.STOPPING
    if _mode(handle) == MODE_JOB:
        name = next(iter(handle.units.values()))
        what, fn = "stop_training_job", partial(sm.stop_training_job, TrainingJobName=name)
    else:
        what = "stop_pipeline_execution"
        fn = partial(
            sm.stop_pipeline_execution,
            PipelineExecutionArn=handle.job_id,
            ClientRequestToken=names.client_token(handle.run_id, "stop"),
        )
    try:
        call(fn, f"sagemaker {what}")
    except ClientError as exc:
        if error_code(exc) != "ValidationException":  # it ended between our describe and our stop
            raise backend_error(f"sagemaker {what} ({client_error_message(exc)})", exc) from exc
    return True


# -- details -----------------------------------------------------------------------------------
def console_url(region: str, name: str) -> str:
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/jobs/{name}"


def logs_url(region: str, name: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
        f"$252Faws$252Fsagemaker$252FTrainingJobs$3FlogStreamNameFilter$3D{name}"
    )


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


def details(handle: RunHandle, config: SageMakerConfig) -> dict[str, Any]:
    region = str(_sm(config).meta.region_name)
    out: dict[str, Any] = {"backend": "sagemaker", "run_id": handle.run_id, "job_id": handle.job_id, "region": region}
    out["role_arn"] = config.role_arn
    if _mode(handle) == MODE_JOB:
        report, job = _job_report(handle, config)
        unit, name = next(iter(handle.units.items()))
        resource = job.get("ResourceConfig") or {}
        out["units"] = {
            unit: {
                "training_job_name": name,
                "training_job_arn": job.get("TrainingJobArn"),
                "state": job.get("TrainingJobStatus"),
                "secondary_status": job.get("SecondaryStatus"),
                "status": report.units[unit].name,
                "failure_reason": job.get("FailureReason"),
                "instance_type": resource.get("InstanceType"),
                "instance_count": resource.get("InstanceCount"),
                "created_at": _ts(job.get("CreationTime")),
                "started_at": _ts(job.get("TrainingStartTime")),
                "ended_at": _ts(job.get("TrainingEndTime")),
                "billable_seconds": job.get("BillableTimeInSeconds"),
                "console_url": console_url(region, name),
                "logs_url": logs_url(region, name),
            }
        }
        out["console_url"] = f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/jobs"
    else:
        execution, steps = _execution(config, handle), _steps(config, handle)
        report = _pipeline_report(handle, execution, steps)
        depends_on = handle.metadata.get("depends_on") or {}
        units = {}
        for unit, step_name in handle.units.items():
            step = steps.get(step_name) or {}
            job_name = _job_name(step)
            units[unit] = {
                "step_name": step_name,
                "state": step.get("StepStatus", "NotStarted"),
                "status": report.units[unit].name,
                "failure_reason": step.get("FailureReason"),
                "depends_on": list(depends_on.get(unit, [])),
                "training_job_name": job_name,
                "started_at": _ts(step.get("StartTime")),
                "ended_at": _ts(step.get("EndTime")),
                "console_url": console_url(region, job_name) if job_name else None,
                "logs_url": logs_url(region, job_name) if job_name else None,
            }
        out.update(
            pipeline_name=handle.metadata.get("pipeline_name"),
            pipeline_execution_arn=handle.job_id,
            units=units,
            console_url=f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/pipelines",
        )
    out.update(status=report.status.name, native_state=report.native_state, message=report.message)
    return out


# -- logs --------------------------------------------------------------------------------------
def _job_names(handle: RunHandle, config: SageMakerConfig) -> list[tuple[str, str]]:
    """(unit, training job name) of every unit whose job exists, in unit order."""
    if _mode(handle) == MODE_JOB:
        return list(handle.units.items())
    steps = _steps(config, handle)
    out = []
    for unit, step_name in handle.units.items():
        name = _job_name(steps.get(step_name) or {})
        if name:
            out.append((unit, name))
    return out


def log_sources(handle: RunHandle, config: SageMakerConfig) -> list[tuple[str, str, str]]:
    """(unit, log group, stream) of every instance of every unit's training job (``<job>/algo-N-<epoch>``)."""
    from botocore.exceptions import ClientError

    logs = client_for("logs", config)
    sources = []
    for unit, name in _job_names(handle, config):
        kwargs: dict[str, Any] = {"logGroupName": config.log_group, "logStreamNamePrefix": f"{name}/"}
        streams: list[str] = []
        while True:
            try:
                page = call(partial(logs.describe_log_streams, **kwargs), "cloudwatch describe_log_streams")
            except ClientError as exc:
                if error_code(exc) == "ResourceNotFoundException":
                    break
                raise
            streams += [s["logStreamName"] for s in page.get("logStreams", [])]
            if not page.get("nextToken") or page.get("nextToken") == kwargs.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        sources += [(unit, config.log_group, s) for s in sorted(streams)]
    return sources
