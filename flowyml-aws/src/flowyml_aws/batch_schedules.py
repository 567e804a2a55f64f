"""``aws_batch`` schedules: each firing submits one small *launcher* job, which submits the run.

EventBridge Scheduler makes one API call per firing, and a Batch run is one job per unit wired
with ``dependsOn``, so the schedule's target is Batch ``SubmitJob`` of a launcher job
(``<prefix>-<name>-fire``, the stack's queue and job definition) running
``python -m flowyml_aws.fire --job <template> --schedule <name> --fire-time <aws.scheduler.scheduled-time>``.
The launcher makes the firing's own spec from the template (run id ``<name>-<yyyymmdd-hhmmss>``)
and submits it through the backend's normal, idempotent path, after claiming the submission
create-only (a firing EventBridge delivers twice starts two launchers, of which one submits).
:func:`runs` finds the firings' jobs by their names (one ``list_jobs`` walk), for core to
record in the run registry.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import partial
from typing import Any

import attrs

from flowyml.core.errors import ConfigError
from flowyml.plugins.schedules import FIRE_TIME_FORMAT, ScheduleInfo, ScheduleSpec, job_for_firing, scheduled_run_id
from flowyml.plugins.types import STORE_SETTINGS_ENV, JobSpec, RunHandle, store_settings_env, store_settings_from_env
from flowyml_aws import batch, batch_secrets, names
from flowyml_aws import schedules as eb
from flowyml_aws.client import client_for
from flowyml_aws.config import AWSBatchConfig, validate_schedules

BACKEND = "aws_batch"
#: the launcher reads the backend config (no secrets: the job's role supplies credentials) from here
CONFIG_ENV = "FLOWYML_AWS_BATCH_CONFIG"
LAUNCHER_MODULE = "flowyml_aws.fire"
#: a launcher only submits jobs: a short attempt limit
LAUNCHER_TIMEOUT_SECONDS = 900
LAUNCHER_ATTEMPTS = 2
_STAMP = re.compile(r"(\d{8}-\d{6})-")
#: launcher jobs ``schedule list`` describes to find a failed one among a firing's deliveries
_SIBLINGS = 10
_NEEDS = "batch:SubmitJob on the job queue and job definition"


def launcher_name(config: AWSBatchConfig, name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{config.job_name_prefix}-{name}-fire")[:128]


def launcher_command(runner_command: list[str]) -> list[str]:
    """The launcher's argv start: the step-runner's Python interpreter where it names one, else ``python``."""
    first = runner_command[0] if runner_command else "python"
    python = first if re.search(r"(^|/)python[0-9.]*$", first) else "python"
    return [python, "-m", LAUNCHER_MODULE]


def launcher_config(config: AWSBatchConfig, definition: str) -> dict[str, Any]:
    """The config the launcher submits with: no credentials or profile (the job's role), the definition resolved."""
    skip = {"profile", "scheduler_role_arn", "schedule_group"}
    doc = {
        f.name: getattr(config, f.name)
        for f in attrs.fields(type(config))
        if not f.metadata.get("secret") and f.name not in skip
    }
    doc["job_definition"] = definition
    return doc


def _check_names(spec: ScheduleSpec, config: AWSBatchConfig) -> None:
    """The fire time must survive in job names (``<prefix>-<run id>-...`` is cut at 100 characters)."""
    sample = scheduled_run_id(spec.name, dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    prefix = names.batch_name_prefix(config.job_name_prefix, sample)
    if not prefix.endswith(f"{sample[-15:]}-"):
        raise ConfigError(
            f"aws_batch: job_name_prefix {config.job_name_prefix!r} with schedule name {spec.name!r} is too long "
            "for Batch job names to keep the fire time: shorten one of them"
        )


def target(spec: ScheduleSpec, config: AWSBatchConfig) -> dict[str, Any]:
    """The universal ``batch:submitJob`` target that starts the launcher of each firing."""
    config.validate()
    validate_schedules(config, BACKEND, _NEEDS)
    _check_names(spec, config)
    template = spec.job
    # the revision a submit of the template resolves to (image, Batch-injected secrets): registered now,
    # with this identity's rights, so a launcher finds it instead of registering one
    definition = batch.job_definition(config, template.image, batch_secrets.entries(config, template.secrets))
    batch.check_resources(template, definition)
    region = str(client_for("batch", config).meta.region_name)
    env = {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "PYTHONUNBUFFERED": "1",
        CONFIG_ENV: json.dumps(launcher_config(config, definition.ref), sort_keys=True),
    }
    if template.store_settings:
        env[STORE_SETTINGS_ENV] = store_settings_env(template.store_settings)
    command = [*launcher_command(template.runner_command), "--job", template.spec_uri]
    command += ["--schedule", spec.name, "--fire-time", eb.FIRE_TIME]
    tags = {**config.tags, **template.labels, "flowyml:schedule": spec.name, "flowyml:fire-time": eb.FIRE_TIME}
    # the universal target takes the SubmitJob API's own member names: boto3's, capitalised
    fields = {k[0].upper() + k[1:]: v for k, v in batch.submit_fields(config, definition, tags).items()}
    request: dict[str, Any] = {
        "JobName": launcher_name(config, spec.name),
        **fields,
        "ContainerOverrides": {
            "Command": command,
            "Environment": [{"Name": k, "Value": v} for k, v in sorted(env.items())],
        },
        "Timeout": {"AttemptDurationSeconds": LAUNCHER_TIMEOUT_SECONDS},
    }
    # EventBridge saw SubmitJob succeed: only Batch can retry a launcher that failed (it is idempotent)
    request["RetryStrategy"] = {"Attempts": max(LAUNCHER_ATTEMPTS, config.retry_attempts or 0)}
    return eb.target(eb.BATCH_TARGET, config, request)


# -- the backend operations ------------------------------------------------------------------
def create(spec: ScheduleSpec, config: AWSBatchConfig) -> ScheduleInfo:
    return eb.info(eb.create(spec, config, BACKEND, partial(target, spec, config)), BACKEND)


def list_all(config: AWSBatchConfig) -> list[ScheduleInfo]:
    return eb.list_all(config, BACKEND, eb.BATCH_TARGET, last_firing)


def pause(name: str, config: AWSBatchConfig) -> ScheduleInfo:
    return eb.info(eb.set_state(config, name, BACKEND, "DISABLED"), BACKEND, last_firing(name, config))


def resume(name: str, config: AWSBatchConfig) -> ScheduleInfo:
    return eb.info(eb.set_state(config, name, BACKEND, "ENABLED"), BACKEND, last_firing(name, config))


def delete(name: str, config: AWSBatchConfig) -> bool:
    return eb.delete(config, name, BACKEND)


def last_firing(name: str, config: AWSBatchConfig) -> tuple[str | None, str | None]:
    """(run id, message) of the newest firing: its message says why the firing started no run.

    A firing delivered twice has two launcher jobs, of which one submits (``flowyml_aws.fire``):
    the newest launcher failing is reported, and so is a launcher of the same firing that failed
    when its run has no job (the owner died; the other delivery exited 0, naming it).
    """
    summaries = batch.list_named(config, name)  # every "<prefix>-<name>-*" job: launchers and the runs' jobs
    launcher = launcher_name(config, name)
    launchers = sorted((s for s in summaries if s["jobName"] == launcher), key=lambda s: -s.get("createdAt", 0))
    if not launchers:
        return None, None
    described = batch.describe_many(config, [s["jobId"] for s in launchers[:_SIBLINGS]])
    jobs = [described.get(s["jobId"]) or {} for s in launchers[:_SIBLINGS]]  # newest first
    fired = _fire_time(jobs[0])
    run_id = scheduled_run_id(name, fired) if fired else None
    failed = [j for j in jobs if j.get("status") == "FAILED" and _fire_time(j) == fired]
    if not failed:
        return run_id, None
    if jobs[0].get("status") != "FAILED" and run_id is not None:
        prefix = names.batch_name_prefix(config.job_name_prefix, run_id)
        if any(s["jobName"].startswith(prefix) for s in summaries):
            return run_id, None  # another delivery of the firing submitted its run
    job = failed[0]
    stream = (job.get("container") or {}).get("logStreamName")
    where = f"; its log: {config.log_group} {stream}" if stream else ""
    reason = job.get("statusReason") or "the launcher job failed"
    return run_id, f"the firing {run_id} could not submit its run: {reason} (Batch job {job['jobId']}{where})"


def _fire_time(job: dict[str, Any]) -> dt.datetime | None:
    from flowyml.plugins.schedules import parse_fire_time

    command = list((job.get("container") or {}).get("command") or [])
    if "--fire-time" not in command[:-1]:
        return None
    try:
        return parse_fire_time(command[command.index("--fire-time") + 1])
    except ValueError:
        return None


def _template(schedule: dict[str, Any]) -> JobSpec:
    """The job spec template the schedule's launcher reads (the ``--job`` of its command)."""
    from flowyml.artifacts.store import store_for_root
    from flowyml.orchestrators.layout import RunLayout

    overrides = eb.target_input(schedule).get("ContainerOverrides") or {}
    command = list(overrides.get("Command") or [])
    env = {e["Name"]: e["Value"] for e in overrides.get("Environment") or []}
    uri = command[command.index("--job") + 1]
    store = store_for_root(RunLayout.artifact_root_of(uri), store_settings_from_env(env))
    return JobSpec.from_dict(store.read_json(uri))


def runs(name: str, config: AWSBatchConfig) -> list[RunHandle]:
    """Handles of the runs the schedule's firings submitted (by their jobs' names: one ``list_jobs`` walk)."""
    schedule = eb.find(config, name, BACKEND)
    if schedule is None:
        return []
    template = _template(schedule)
    existing = batch.find_existing(config, name)  # every "<prefix>-<name>-*" job: launchers and the runs' jobs
    start = names.batch_name_prefix(config.job_name_prefix, name)
    stamps = sorted({m.group(1) for n in existing if (m := _STAMP.match(n, len(start)))})
    handles = []
    for stamp in stamps:
        fired = dt.datetime.strptime(stamp, FIRE_TIME_FORMAT).replace(tzinfo=dt.timezone.utc)
        job = job_for_firing(template, name, fired)
        handle = batch.find(job, config, existing)
        if handle is not None:
            metadata = {**handle.metadata, "schedule": name}
            handles.append(handle.evolve(metadata=metadata, pipeline_name=job.pipeline_name))
    return handles
