"""Submit: one server job per execution unit, wired with ``after`` — idempotent per run id."""

from __future__ import annotations

import hashlib
import re

from flowyml.plugins.types import JobSpec, RunHandle
from flowyml_httpjobs.client import Client
from flowyml_httpjobs.config import HttpJobsConfig

NAME = "httpjobs"
#: the label every job of a run carries; status, logs and cancel find a run's jobs by it
RUN_LABEL = "flowyml-run-id"


def _safe(text: str, limit: int) -> str:
    """``text`` in the server's name alphabet; a hash keeps altered or long names unique."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", text)
    if cleaned == text and len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{cleaned[: limit - 9]}-{digest}"


def run_job_id(run_id: str) -> str:
    """The id users see for the whole run: the prefix of all its job names."""
    return f"fy-{_safe(run_id, 80)}"


def job_name(run_id: str, unit: str) -> str:
    """A unit's job name, derived from the run id alone: a retried submit computes the same one."""
    return f"{run_job_id(run_id)}-{_safe(unit, 40)}"


def submit(spec: JobSpec, config: HttpJobsConfig) -> RunHandle:
    """Create the jobs that do not exist yet, dependencies first, and return at once."""
    client = Client(config)
    existing = {job["name"] for job in client.list_jobs(RUN_LABEL, spec.run_id, what="look for an earlier submit")}
    units: dict[str, str] = {}
    for unit in spec.topological_units():  # a job's dependencies must exist before it is created
        name = units[unit.name] = job_name(spec.run_id, unit.name)
        if name in existing:
            continue
        labels = {
            **spec.labels,
            RUN_LABEL: spec.run_id,
            "flowyml-pipeline": spec.pipeline_name,
            "flowyml-unit": unit.name,
        }
        if spec.image:
            labels["image"] = spec.image  # this server runs commands on its own host: the image is informational
        client.create_job(
            {
                "name": name,
                "argv": spec.unit_command(unit.name),
                "env": spec.unit_env(unit.name),
                "labels": labels,
                "after": [job_name(spec.run_id, dep) for dep in unit.depends_on],
                "timeout": spec.timeout_seconds,
            }
        )  # None: created by an earlier attempt whose answer was lost — exactly what we want
    return RunHandle(
        backend=NAME,
        run_id=spec.run_id,
        job_id=run_job_id(spec.run_id),
        units=units,
        metadata={"server": config.url, "unit_order": list(units)},
        artifact_root=spec.artifact_root,
        pipeline_name=spec.pipeline_name,
    )
