"""Submit a run: one unit -> one CustomJob; several units -> one PipelineJob (compiled with kfp).

Both paths are idempotent. A PipelineJob's id is derived from the run id, so a second create
gets 409 and we fetch the job we made. A CustomJob's id is chosen by the server, so every
attempt first looks for a job labelled with the run's key (a create whose answer was lost
may well have succeeded).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import Any

from flowyml.core.errors import ConfigError
from flowyml.orchestrators.layout import RunLayout
from flowyml.plugins.types import JobSpec, RunHandle
from flowyml_gcp import client as gcp
from flowyml_gcp import machine, names
from flowyml_gcp.config import VertexAIConfig

log = logging.getLogger("flowyml.gcp.submit")
BACKEND = "vertex_ai"
CUSTOM_JOB, PIPELINE_JOB = "custom_job", "pipeline_job"


def console_url(kind: str, resource_name: str, config: VertexAIConfig) -> str:
    job_id = resource_name.rsplit("/", 1)[-1]
    base = f"https://console.cloud.google.com/vertex-ai/locations/{config.region}"
    if kind == PIPELINE_JOB:
        return f"{base}/pipelines/runs/{job_id}?project={config.project_id}"
    return f"{base}/training/{job_id}/cpu?project={config.project_id}"


def _common(config: VertexAIConfig) -> dict[str, Any]:
    return {"encryption_spec": {"kms_key_name": config.encryption_key}} if config.encryption_key else {}


def _labels(spec: JobSpec, config: VertexAIConfig, unit: str | None = None) -> dict[str, str]:
    return names.run_labels(spec.run_id, spec.pipeline_name, config.labels, spec.labels, unit=unit)


def pipeline_root(spec: JobSpec, config: VertexAIConfig) -> str:
    """Where Vertex Pipelines keeps its own outputs (KFP metadata): never the artifact keys."""
    if config.pipeline_root:
        return config.pipeline_root.rstrip("/")
    if config.staging_bucket:
        return config.staging_bucket.rstrip("/") + "/pipeline-root"
    if spec.artifact_root.startswith("gs://"):
        return spec.artifact_root + "/vertex-pipeline-root"
    raise ConfigError("vertex_ai: set staging_bucket (or pipeline_root) to a gs:// URI for multi-unit pipelines")


# -- CustomJob ---------------------------------------------------------------------------------
def custom_job_body(spec: JobSpec, config: VertexAIConfig) -> dict[str, Any]:
    """The CustomJob resource for a one-unit run (snake_case, as the GAPIC types take it)."""
    if not spec.image:
        raise ConfigError("vertex_ai needs a container image: set docker.image in the stack")
    unit = spec.units[0]
    machine_spec: dict[str, Any] = {"machine_type": machine.machine_type(unit.resources, config.machine_type)}
    acc = machine.accelerator(unit.resources)
    if acc:
        machine_spec.update(accelerator_type=acc[0], accelerator_count=acc[1])
    job_spec: dict[str, Any] = {
        "worker_pool_specs": [
            {
                "machine_spec": machine_spec,
                "replica_count": 1,
                "disk_spec": {
                    "boot_disk_type": "pd-ssd",
                    "boot_disk_size_gb": machine.boot_disk_gb(unit.resources, config.boot_disk_size_gb),
                },
                "container_spec": {
                    "image_uri": spec.image,
                    "command": spec.unit_command(unit.name),
                    "env": [{"name": k, "value": str(v)} for k, v in spec.unit_env(unit.name).items()],
                },
            }
        ],
    }
    if config.service_account:
        job_spec["service_account"] = config.service_account
    if config.network:
        job_spec["network"] = config.network
    if spec.timeout_seconds:
        job_spec["scheduling"] = {"timeout": dt.timedelta(seconds=int(spec.timeout_seconds))}
    if config.staging_bucket:
        job_spec["base_output_directory"] = {
            "output_uri_prefix": f"{config.staging_bucket.rstrip('/')}/{RunLayout(spec.run_id).root}/{unit.name}"
        }
    return {
        "display_name": names.display_name("flowyml", spec.pipeline_name, spec.run_id),
        "job_spec": job_spec,
        "labels": _labels(spec, config, unit.name),
        **_common(config),
    }


def find_custom_job(config: VertexAIConfig, run_id: str) -> Any | None:
    """The CustomJob an earlier attempt created for this run, if any (the oldest one)."""
    jobs = list_custom_jobs(config, f'labels.{names.RUN_KEY_LABEL}="{names.run_key(run_id)}"')
    jobs.sort(key=lambda j: j.create_time or dt.datetime.max.replace(tzinfo=dt.timezone.utc))
    return jobs[0] if jobs else None


def list_custom_jobs(config: VertexAIConfig, flt: str) -> list[Any]:
    c = gcp.job_client(config)
    pager = c.list_custom_jobs(
        request={"parent": config.location_path, "filter": flt}, retry=None, timeout=config.request_timeout
    )
    return list(pager)


def _submit_custom_job(spec: JobSpec, config: VertexAIConfig) -> Any:
    body = custom_job_body(spec, config)
    c = gcp.job_client(config)

    def attempt() -> Any:
        found = find_custom_job(config, spec.run_id)
        if found is not None:
            log.info("run %s already has CustomJob %s; not creating another", spec.run_id, found.name)
            return found
        return c.create_custom_job(
            parent=config.location_path, custom_job=body, retry=None, timeout=config.request_timeout
        )

    return gcp.call(attempt, f"create Vertex AI CustomJob for run {spec.run_id}")


# -- PipelineJob -------------------------------------------------------------------------------
def pipeline_job_body(
    spec: JobSpec, config: VertexAIConfig, extra_args: Sequence[str] = ()
) -> tuple[dict[str, Any], dict[str, str]]:
    """(the PipelineJob resource, unit -> KFP task key) for a multi-unit run (or a schedule's template)."""
    from flowyml_gcp.compile import compile_pipeline

    compiled, tasks = compile_pipeline(spec, config, extra_args)
    body: dict[str, Any] = {
        "display_name": names.display_name("flowyml", spec.pipeline_name, spec.run_id),
        "pipeline_spec": compiled,
        "runtime_config": {"gcs_output_directory": pipeline_root(spec, config)},
        "labels": _labels(spec, config),
        **_common(config),
    }
    if config.service_account:
        body["service_account"] = config.service_account
    if config.network:
        body["network"] = config.network
    return body, tasks


def _submit_pipeline_job(spec: JobSpec, config: VertexAIConfig) -> tuple[Any, dict[str, str]]:
    from google.api_core import exceptions as gexc

    body, tasks = pipeline_job_body(spec, config)
    job_id = names.pipeline_job_id(spec.run_id)
    name = f"{config.location_path}/pipelineJobs/{job_id}"
    c = gcp.pipeline_client(config)

    def get() -> Any:
        return c.get_pipeline_job(name=name, retry=None, timeout=config.request_timeout)

    def attempt() -> Any:
        try:
            return get()  # an earlier attempt (or an earlier run_pipeline call) made it already
        except gexc.NotFound:
            pass
        try:
            return c.create_pipeline_job(
                parent=config.location_path,
                pipeline_job=body,
                pipeline_job_id=job_id,
                retry=None,
                timeout=config.request_timeout,
            )
        except gexc.Conflict:
            log.info("PipelineJob %s exists (a lost answer to an earlier create); fetching it", job_id)
            return get()

    return gcp.call(attempt, f"create Vertex AI PipelineJob {job_id}"), tasks


# -- entry point -------------------------------------------------------------------------------
def submit(spec: JobSpec, config: VertexAIConfig) -> RunHandle:
    """Create the run's job (or find the one a previous attempt created) and return its handle."""
    config.validate()
    if len(spec.units) == 1:
        return handle_of(spec, config, _submit_custom_job(spec, config), None)
    job, tasks = _submit_pipeline_job(spec, config)
    return handle_of(spec, config, job, tasks)


def find(spec: JobSpec, config: VertexAIConfig) -> RunHandle | None:
    """The handle of the job an earlier submit of ``spec`` created (found as submit finds it), or
    None; creates nothing. Core adopts with it a run whose submitter died before recording it."""
    from google.api_core import exceptions as gexc

    if len(spec.units) == 1:
        job = gcp.call(lambda: find_custom_job(config, spec.run_id), f"find the CustomJob of run {spec.run_id}")
        return None if job is None else handle_of(spec, config, job, None)
    from flowyml_gcp.compile import compile_pipeline

    name = f"{config.location_path}/pipelineJobs/{names.pipeline_job_id(spec.run_id)}"
    c = gcp.pipeline_client(config)
    try:
        job = gcp.call(lambda: c.get_pipeline_job(name=name, retry=None, timeout=config.request_timeout), f"get {name}")
    except gexc.NotFound:
        return None
    return handle_of(spec, config, job, compile_pipeline(spec, config)[1])


def handle_of(spec: JobSpec, config: VertexAIConfig, job: Any, tasks: dict[str, str] | None) -> RunHandle:
    """The run's handle on ``job``: a CustomJob (``tasks`` None) or a PipelineJob (unit -> KFP task key)."""
    metadata: dict[str, Any] = {"project": config.project_id, "region": config.region}
    if tasks is None:
        units = {spec.units[0].name: job.name}
        metadata.update(kind=CUSTOM_JOB, tasks={})
    else:
        units = {u: f"{job.name}#{key}" for u, key in tasks.items()}
        metadata.update(kind=PIPELINE_JOB, tasks=tasks)
    metadata["console_url"] = console_url(metadata["kind"], job.name, config)
    if spec.timeout_seconds:
        # counted from the job's creation, so a retried submit does not extend it
        created = job.create_time.timestamp() if job.create_time else time.time()
        metadata.update(timeout_seconds=spec.timeout_seconds, deadline=created + spec.timeout_seconds)
    return RunHandle(backend=BACKEND, run_id=spec.run_id, job_id=job.name, units=units, metadata=metadata)
