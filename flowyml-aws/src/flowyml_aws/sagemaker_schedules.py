"""``sagemaker`` schedules: a SageMaker Pipeline per schedule, one execution per firing.

Creating a schedule creates (or updates) the pipeline ``<prefix>-schedule-<name>-<hash>``: the
template's units as ``Training`` steps (also for a one-unit pipeline), each unit's command ending
in ``--schedule <name> --fire-time {Get: Parameters.FireTime}``. The schedule's target is
``sagemaker:startPipelineExecution`` with ``FireTime = <aws.scheduler.scheduled-time>`` and a
``ClientRequestToken`` made of the fire time, so a firing EventBridge delivers twice starts one
execution. The step-runner turns the template into that firing's run (``<name>-<yyyymmdd-hhmmss>``).
:func:`runs` reads each execution's ``FireTime`` back, for core to record in the run registry.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import partial
from typing import Any

from flowyml.plugins.schedules import ScheduleInfo, ScheduleSpec, parse_fire_time, scheduled_run_id
from flowyml.plugins.types import RunHandle
from flowyml_aws import pipeline_definition as pdef
from flowyml_aws import sagemaker
from flowyml_aws import schedules as eb
from flowyml_aws.client import call, client_for
from flowyml_aws.config import SageMakerConfig, validate_schedules

BACKEND = "sagemaker"
PARAMETER = "FireTime"
_NEEDS = "sagemaker:StartPipelineExecution on the schedule's pipeline"


def pipeline_name(config: SageMakerConfig, name: str) -> str:
    """``<prefix>-schedule-<name>-<hash>`` in SageMaker's pipeline-name alphabet."""
    readable = re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9]", "-", f"{config.job_name_prefix}-schedule-{name}")).strip("-")
    digest = hashlib.sha256(("schedule\x00" + name).encode()).hexdigest()[:8]
    return f"{readable[:200].rstrip('-')}-{digest}"


def display_name(name: str) -> str:
    """The executions' display name in SageMaker's alphabet: ``nightly_v2`` -> ``nightly-v2-scheduled``."""
    readable = re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9]", "-", name)).strip("-")
    return f"{readable[:71].rstrip('-')}-scheduled".lstrip("-")


def definition(spec: ScheduleSpec, config: SageMakerConfig, region: str) -> dict[str, Any]:
    """The schedule's pipeline definition: the template's steps, each told the firing's time."""
    template = spec.job
    requests = {u.name: sagemaker.training_request(template, config, u.name, region) for u in template.units}
    for request in requests.values():
        algorithm = request["AlgorithmSpecification"]
        fire_time = {"Get": f"Parameters.{PARAMETER}"}
        algorithm["ContainerEntrypoint"] = [*algorithm["ContainerEntrypoint"], "--schedule", spec.name]
        algorithm["ContainerEntrypoint"] += ["--fire-time", fire_time]
        request["Tags"] = [*request["Tags"], {"Key": "flowyml:schedule", "Value": spec.name}]
    doc = pdef.definition(template, requests)
    doc["Parameters"] = [{"Name": PARAMETER, "Type": "String"}]
    return doc


def _put_pipeline(spec: ScheduleSpec, config: SageMakerConfig, name: str, body: str) -> None:
    """Create the schedule's pipeline, or update it to this definition (a schedule replaced)."""
    sm = client_for("sagemaker", config)
    parallelism: dict[str, Any] = {}
    if config.max_parallel_steps:
        parallelism["ParallelismConfiguration"] = {"MaxParallelExecutionSteps": config.max_parallel_steps}
    if sagemaker._pipeline_exists(config, name):
        update = partial(sm.update_pipeline, PipelineName=name, PipelineDefinition=body, RoleArn=config.role_arn)
        call(partial(update, **parallelism), f"sagemaker update_pipeline {name}")
        return
    tags = {**config.tags, **spec.job.labels, "flowyml:schedule": spec.name}
    sagemaker._create_once(
        f"sagemaker create_pipeline {name}",
        lambda: sagemaker._pipeline_exists(config, name),
        partial(
            sm.create_pipeline,
            PipelineName=name,
            PipelineDefinition=body,
            PipelineDescription=f"flowyml schedule {spec.name} of {spec.pipeline_name}"[:3072],
            RoleArn=config.role_arn,
            Tags=[{"Key": k[:128], "Value": str(v)[:256]} for k, v in tags.items()],
            **parallelism,
        ),
    )


def target(spec: ScheduleSpec, config: SageMakerConfig) -> dict[str, Any]:
    """Create the schedule's pipeline; the universal ``startPipelineExecution`` target that runs it."""
    config.validate()
    validate_schedules(config, BACKEND, _NEEDS)
    region = str(client_for("sagemaker", config).meta.region_name)
    name = pipeline_name(config, spec.name)
    _put_pipeline(spec, config, name, pdef.encode(definition(spec, config, region)))
    token = f"flowyml-{eb.FIRE_TIME}-{hashlib.sha256(spec.name.encode()).hexdigest()[:12]}"
    request = {
        "PipelineName": name,
        "PipelineExecutionDisplayName": display_name(spec.name),
        "PipelineParameters": [{"Name": PARAMETER, "Value": eb.FIRE_TIME}],
        "ClientRequestToken": token,  # one execution per fire time, whatever EventBridge retries
    }
    return eb.target(eb.SAGEMAKER_TARGET, config, request)


# -- the backend operations ------------------------------------------------------------------
def create(spec: ScheduleSpec, config: SageMakerConfig) -> ScheduleInfo:
    return eb.info(eb.create(spec, config, BACKEND, partial(target, spec, config)), BACKEND)


def list_all(config: SageMakerConfig) -> list[ScheduleInfo]:
    return eb.list_all(config, BACKEND, eb.SAGEMAKER_TARGET, last_firing)


def pause(name: str, config: SageMakerConfig) -> ScheduleInfo:
    return eb.info(eb.set_state(config, name, BACKEND, "DISABLED"), BACKEND, last_firing(name, config))


def resume(name: str, config: SageMakerConfig) -> ScheduleInfo:
    return eb.info(eb.set_state(config, name, BACKEND, "ENABLED"), BACKEND, last_firing(name, config))


def delete(name: str, config: SageMakerConfig) -> bool:
    """Delete the schedule; its pipeline stays while its executions are runs flowyml lists."""
    return eb.delete(config, name, BACKEND)


def _fire_time_of(config: SageMakerConfig, execution_arn: str) -> str | None:
    sm = client_for("sagemaker", config)
    page = call(
        partial(sm.list_pipeline_parameters_for_execution, PipelineExecutionArn=execution_arn),
        "sagemaker list_pipeline_parameters_for_execution",
    )
    for parameter in page.get("PipelineParameters") or []:
        if parameter.get("Name") == PARAMETER:
            return str(parameter.get("Value"))
    return None


def last_firing(name: str, config: SageMakerConfig) -> tuple[str | None, str | None]:
    executions = sagemaker._executions(config, pipeline_name(config, name))
    if not executions:
        return None, None
    newest = max(executions, key=lambda e: str(e.get("StartTime") or ""))
    text = _fire_time_of(config, str(newest["PipelineExecutionArn"]))
    return (scheduled_run_id(name, parse_fire_time(text)) if text else None), None


def runs(name: str, config: SageMakerConfig) -> list[RunHandle]:
    """Handles of the schedule pipeline's executions, each under the run id of its ``FireTime``."""
    if eb.find(config, name, BACKEND) is None:
        return []
    pipeline = pipeline_name(config, name)
    sm = client_for("sagemaker", config)
    described = call(partial(sm.describe_pipeline, PipelineName=pipeline), "sagemaker describe_pipeline")
    steps = json.loads(described["PipelineDefinition"])["Steps"]
    unit_of = {s["Name"]: s["Arguments"]["Environment"]["FLOWYML_UNIT"] for s in steps}
    units = {unit_of[s["Name"]]: s["Name"] for s in steps}
    depends_on = {unit_of[s["Name"]]: [unit_of[d] for d in s.get("DependsOn") or []] for s in steps}
    pipeline_of_runs = steps[0]["Arguments"]["Environment"].get("FLOWYML_PIPELINE_NAME", "") if steps else ""
    region = str(sm.meta.region_name)
    handles = []
    for execution in sagemaker._executions(config, pipeline):
        arn = str(execution["PipelineExecutionArn"])
        text = _fire_time_of(config, arn)
        if not text:
            continue
        handles.append(
            RunHandle(
                backend=BACKEND,
                run_id=scheduled_run_id(name, parse_fire_time(text)),
                job_id=arn,
                units=units,
                metadata={
                    "mode": sagemaker.MODE_PIPELINE,
                    "pipeline_name": pipeline,
                    "region": region,
                    "depends_on": depends_on,
                    "schedule": name,
                },
                pipeline_name=pipeline_of_runs,
            )
        )
    return handles
