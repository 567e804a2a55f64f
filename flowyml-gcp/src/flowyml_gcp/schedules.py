"""Native schedules on Vertex AI: ``ScheduleService`` schedules that create a PipelineJob per firing.

A flowyml schedule is a Vertex ``Schedule`` whose display name is ``flowyml-<name>`` and whose
``create_pipeline_job_request`` holds the template compiled as a pipeline (one task per unit, also
for one-unit runs). Every unit's command ends in ``--schedule <name> --fire-time
{{$.pipeline_job_schedule_time_utc}}``: Vertex fills in the fire time, and the step-runner turns
the template into that firing's own run (``<name>-<yyyymmdd-hhmmss>``), so every firing is a
normal run with its own artifacts. :func:`runs` finds the PipelineJobs a schedule created, as
handles core records in the run registry.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flowyml.plugins.schedules import ScheduleInfo, ScheduleNotFoundError, ScheduleSpec, scheduled_run_id
from flowyml.plugins.types import RunHandle
from flowyml_gcp import client as gcp
from flowyml_gcp import names
from flowyml_gcp.config import VertexAIConfig
from flowyml_gcp.submit import BACKEND, PIPELINE_JOB, console_url, pipeline_job_body

log = logging.getLogger("flowyml.gcp.schedules")
PREFIX = "flowyml-"
#: KFP's placeholder for the firing's scheduled time (``dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER``)
FIRE_TIME = "{{$.pipeline_job_schedule_time_utc}}"
SCHEDULE_LABEL = "flowyml-schedule"


def schedule_client(config: VertexAIConfig) -> Any:
    """``aiplatform_v1.ScheduleServiceClient`` for the config's endpoint (cached like the others)."""

    def make() -> Any:
        from google.cloud.aiplatform_v1.services.schedule_service import ScheduleServiceClient

        return ScheduleServiceClient(
            credentials=gcp.credentials(config.anonymous),
            transport=config.api_transport,
            client_options=gcp._options(config),
        )

    return gcp.CLIENTS.get(("schedule", config.endpoint, config.api_transport, config.anonymous), make)


def schedule_body(spec: ScheduleSpec, config: VertexAIConfig) -> dict[str, Any]:
    """The ``Schedule`` resource (snake_case, as the GAPIC types take it)."""
    job, _tasks = pipeline_job_body(spec.job, config, ["--schedule", spec.name, "--fire-time", FIRE_TIME])
    job["labels"] = {**job["labels"], SCHEDULE_LABEL: names.label_value(spec.name)}
    job["display_name"] = names.display_name("flowyml", spec.name)
    return {
        "display_name": PREFIX + spec.name,
        "cron": f"TZ={spec.timezone} {spec.cron}",
        "create_pipeline_job_request": {"parent": config.location_path, "pipeline_job": job},
        "max_concurrent_run_count": 1,
        "allow_queueing": True,
    }


def _list(config: VertexAIConfig) -> list[Any]:
    c = schedule_client(config)

    def attempt() -> list[Any]:
        pager = c.list_schedules(request={"parent": config.location_path}, retry=None, timeout=config.request_timeout)
        return [s for s in pager if s.display_name.startswith(PREFIX) and s.create_pipeline_job_request.parent]

    return gcp.call(attempt, "list Vertex AI schedules")


def _find(config: VertexAIConfig, name: str) -> Any | None:
    return next((s for s in _list(config) if s.display_name == PREFIX + name), None)


def _get(config: VertexAIConfig, name: str) -> Any:
    found = _list(config)
    for schedule in found:
        if schedule.display_name == PREFIX + name:
            return schedule
    known = ", ".join(s.display_name.removeprefix(PREFIX) for s in found) or "none"
    raise ScheduleNotFoundError(f"no Vertex AI schedule {name!r} in {config.location_path}; schedules: {known}")


def _cron(schedule: Any) -> tuple[str, str]:
    """(cron, time zone) of ``TZ=Europe/Paris 0 3 * * *``."""
    text = schedule.cron.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        zone, _, rest = text.partition(" ")
        return rest.strip(), zone.split("=", 1)[1]
    return text, "UTC"


def _pipeline_name(schedule: Any) -> str:
    job = schedule.create_pipeline_job_request.pipeline_job
    return str(job.labels.get(names.PIPELINE_LABEL, ""))


def _aware(value: Any) -> dt.datetime | None:
    if not value or value.timestamp() <= 0:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def info(schedule: Any) -> ScheduleInfo:
    from google.cloud.aiplatform_v1.types import Schedule

    name = schedule.display_name.removeprefix(PREFIX)
    cron, timezone = _cron(schedule)
    paused = schedule.state == Schedule.State.PAUSED
    last = schedule.last_scheduled_run_response
    fired = _aware(last.scheduled_run_time) if last else None
    message = None
    if schedule.state == Schedule.State.COMPLETED:
        message = "the schedule has completed (end time or run count reached)"
    return ScheduleInfo(
        name=name,
        backend=BACKEND,
        cron=cron,
        timezone=timezone,
        pipeline_name=_pipeline_name(schedule),
        paused=paused,
        next_fire_time=None if paused else _aware(schedule.next_run_time),
        last_run_id=scheduled_run_id(name, fired) if fired else None,
        native_id=schedule.name,
        message=message,
    )


# -- the backend operations ------------------------------------------------------------------
def create(spec: ScheduleSpec, config: VertexAIConfig) -> ScheduleInfo:
    """Replace any schedule of that name, create this one (once, also when an answer is lost)."""
    config.validate()
    body = schedule_body(spec, config)
    c = schedule_client(config)
    existing = _find(config, spec.name)
    if existing is not None:
        log.info("replacing Vertex AI schedule %s (%s)", spec.name, existing.name)
        _delete(config, existing.name)

    def attempt() -> Any:
        found = _find(config, spec.name)  # an earlier attempt's create may have succeeded
        if found is not None:
            return found
        return c.create_schedule(parent=config.location_path, schedule=body, retry=None, timeout=config.request_timeout)

    schedule = gcp.call(attempt, f"create Vertex AI schedule {spec.name}")
    if spec.paused:
        return pause(spec.name, config)
    return info(schedule)


def list_all(config: VertexAIConfig) -> list[ScheduleInfo]:
    return [info(s) for s in _list(config)]


def pause(name: str, config: VertexAIConfig) -> ScheduleInfo:
    from google.cloud.aiplatform_v1.types import Schedule

    schedule = _get(config, name)
    if schedule.state == Schedule.State.ACTIVE:
        c = schedule_client(config)
        gcp.call(
            lambda: c.pause_schedule(name=schedule.name, retry=None, timeout=config.request_timeout),
            f"pause Vertex AI schedule {name}",
        )
    return info(_get(config, name))


def resume(name: str, config: VertexAIConfig) -> ScheduleInfo:
    from google.cloud.aiplatform_v1.types import Schedule

    schedule = _get(config, name)
    if schedule.state == Schedule.State.PAUSED:
        c = schedule_client(config)
        gcp.call(  # catch_up=False: fire from the next time after now, not every missed one
            lambda: c.resume_schedule(name=schedule.name, catch_up=False, retry=None, timeout=config.request_timeout),
            f"resume Vertex AI schedule {name}",
        )
    return info(_get(config, name))


def _delete(config: VertexAIConfig, resource: str) -> None:
    from google.api_core import exceptions as gexc

    c = schedule_client(config)

    def attempt() -> None:
        try:
            c.delete_schedule(name=resource, retry=None, timeout=config.request_timeout)
        except gexc.NotFound:
            pass  # a retried delete whose first answer was lost

    gcp.call(attempt, f"delete Vertex AI schedule {resource}")


def delete(name: str, config: VertexAIConfig) -> bool:
    existing = _find(config, name)
    if existing is None:
        return False
    _delete(config, existing.name)
    return True


def runs(name: str, config: VertexAIConfig) -> list[RunHandle]:
    """Handles of the PipelineJobs the schedule created (one list call), for the run registry."""
    schedule = _find(config, name)
    if schedule is None:
        return []
    c = gcp.pipeline_client(config)
    flt = f'labels.{SCHEDULE_LABEL}="{names.label_value(name)}"'

    def attempt() -> list[Any]:
        pager = c.list_pipeline_jobs(
            request={"parent": config.location_path, "filter": flt}, retry=None, timeout=config.request_timeout
        )
        return [j for j in pager if j.schedule_name == schedule.name]

    jobs = gcp.call(attempt, f"list the runs of Vertex AI schedule {name}")
    tasks = _task_keys(schedule)
    cron, timezone = _cron(schedule)
    handles = []
    for job in jobs:
        fired = _fire_time_of(cron, timezone, _aware(job.create_time))
        if fired is None:
            continue
        handles.append(
            RunHandle(
                backend=BACKEND,
                run_id=scheduled_run_id(name, fired),
                job_id=job.name,
                units={u: f"{job.name}#{key}" for u, key in tasks.items()},
                metadata={
                    "project": config.project_id,
                    "region": config.region,
                    "kind": PIPELINE_JOB,
                    "tasks": tasks,
                    "schedule": name,
                    "console_url": console_url(PIPELINE_JOB, job.name, config),
                },
                pipeline_name=_pipeline_name(schedule),
            )
        )
    return handles


def _task_keys(schedule: Any) -> dict[str, str]:
    """unit -> KFP task key, read back from the compiled template the schedule holds."""
    from google.protobuf.json_format import MessageToDict

    spec = MessageToDict(schedule.create_pipeline_job_request.pipeline_job._pb.pipeline_spec)
    return {t["taskInfo"]["name"]: key for key, t in spec["root"]["dag"]["tasks"].items()}


def _fire_time_of(cron: str, timezone: str, created: dt.datetime | None) -> dt.datetime | None:
    """The firing a job created at ``created`` belongs to: the schedule's latest fire time by then
    (Vertex creates the job right after it; within a day, for a queued one)."""
    from flowyml.aio.cron import CronSchedule

    if created is None:
        return None
    schedule = CronSchedule(cron, timezone)
    fire = schedule.next_after(created - dt.timedelta(days=1))
    if fire > created:
        return None
    while (following := schedule.next_after(fire)) <= created:
        fire = following
    return fire.astimezone(dt.timezone.utc)
