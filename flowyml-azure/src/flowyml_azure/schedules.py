"""Native schedules on Azure ML: one ``JobSchedule`` (``CronTrigger``) per flowyml schedule.

The schedule's ``create_job`` is the template compiled as a pipeline job (also for one unit: the
trigger-time expression is only resolved in string inputs of pipeline jobs). Its input
``fire_time`` is ``${{creation_context.trigger_time}}``, bound to every component, whose command
ends in ``--schedule <name> --fire-time ${{inputs.fire_time}}``: the step-runner turns the
template into the firing's own run (``<name>-<yyyymmdd-hhmmss>``). :func:`runs` lists the jobs
a schedule created (``scheduled=true&scheduleId=...``) as handles core records in the run
registry, with the run id read from the same resolved input the units saw.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flowyml.core.errors import ConfigError
from flowyml.plugins.schedules import (
    SCHEDULE_LABEL,
    ScheduleInfo,
    ScheduleNotFoundError,
    ScheduleSpec,
    parse_fire_time,
    scheduled_run_id,
)
from flowyml.plugins.types import RunHandle
from flowyml_azure.client import is_not_found, ml_client, refused, retrying
from flowyml_azure.config import AzureMLConfig
from flowyml_azure.names import job_name
from flowyml_azure.submit import BACKEND, FIRE_TIME_INPUT, GATE, build_pipeline_job

log = logging.getLogger("flowyml.azure.schedules")
PREFIX = "flowyml-"
#: Tags of the Azure ML schedule that keep what the trigger cannot say back exactly.
CRON_TAG, ZONE_TAG, PIPELINE_TAG = "flowyml.cron", "flowyml.timezone", "flowyml.pipeline"
RUN_ID_TAGS = ("flowyml.run_id", "flowyml-run-id")
#: NCronTab has no @-macros: their five fields.
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def azure_name(name: str) -> str:
    """The Azure ML schedule name of a flowyml schedule (``flowyml-<name>``, sanitised if need be)."""
    return job_name(PREFIX + name)


def windows_zone(timezone: str) -> str:
    """Azure ML's time zones are Windows names: ``Europe/Paris`` -> ``Romance Standard Time``."""
    from tzlocal.windows_tz import tz_win

    if timezone in ("UTC", "Etc/UTC", "GMT"):
        return "UTC"
    found = tz_win.get(timezone)
    if found is None:
        raise ConfigError(
            f"schedule: Azure ML has no time zone for {timezone!r} (it takes Windows zone names): "
            "use a zone of a country's main city, e.g. Europe/Paris or America/New_York, or UTC"
        )
    return str(found)


def azure_cron(cron: str) -> str:
    return MACROS.get(cron.strip().lower(), cron)


def _create_schedule(ml: Any, schedule: Any) -> Any:
    with GATE.serialize():  # the request carries the pipeline job serialized (see submit.GATE)
        return ml.schedules.begin_create_or_update(schedule)


def build_schedule(spec: ScheduleSpec, config: AzureMLConfig) -> Any:
    """The ``JobSchedule`` entity: the template's pipeline job on a ``CronTrigger``."""
    from azure.ai.ml.entities import CronTrigger, JobSchedule

    job = build_pipeline_job(spec.job, config, None, schedule=spec.name)
    # the fired jobs' tags: the template's run id is not theirs
    job.tags = {k: v for k, v in job.tags.items() if k not in RUN_ID_TAGS} | {SCHEDULE_LABEL: spec.name}
    return JobSchedule(
        name=azure_name(spec.name),
        display_name=PREFIX + spec.name,
        description=f"flowyml schedule {spec.name} of pipeline {spec.pipeline_name}",
        trigger=CronTrigger(expression=azure_cron(spec.cron), time_zone=windows_zone(spec.timezone)),
        create_job=job,
        is_enabled=not spec.paused,
        tags={
            SCHEDULE_LABEL: spec.name,
            CRON_TAG: spec.cron,
            ZONE_TAG: spec.timezone,
            PIPELINE_TAG: spec.pipeline_name,
        },
    )


def _ours(schedule: Any) -> bool:
    return SCHEDULE_LABEL in (getattr(schedule, "tags", None) or {})


def info(schedule: Any, config: AzureMLConfig, now: dt.datetime | None = None) -> ScheduleInfo:
    """A ``ScheduleInfo`` of an Azure ML schedule; the next fire time is computed from the cron
    (Azure ML does not report it)."""
    from flowyml.aio.cron import CronSchedule

    tags = schedule.tags or {}
    name = tags.get(SCHEDULE_LABEL) or schedule.name.removeprefix(PREFIX)
    trigger = schedule.trigger
    cron = str(tags.get(CRON_TAG) or getattr(trigger, "expression", "") or "")
    timezone = tags.get(ZONE_TAG) or "UTC"
    paused = not schedule.is_enabled
    message = None
    state = str(getattr(schedule, "provisioning_state", "") or "")
    if state and state.lower() not in ("succeeded", "creating", "updating"):
        message = f"Azure ML reports the schedule's provisioning state as {state}"
    next_fire = None
    if not paused:
        try:
            next_fire = CronSchedule(cron, timezone).next_after(now or dt.datetime.now(dt.timezone.utc))
        except (ValueError, ImportError) as exc:
            message = message or f"next fire time unknown: {exc}"
    return ScheduleInfo(
        name=name,
        backend=BACKEND,
        cron=cron,
        timezone=timezone,
        pipeline_name=tags.get(PIPELINE_TAG, ""),
        paused=paused,
        next_fire_time=next_fire,
        native_id=f"{config.workspace_path}/schedules/{schedule.name}",  # the SDK entity has no id
        message=message,
    )


def _list(config: AzureMLConfig) -> list[Any]:
    ml = ml_client(config)

    def attempt() -> list[Any]:  # "All": disabled (paused) ones too; the SDK lists enabled ones by default
        return [s for s in ml.schedules.list(list_view_type="All") if _ours(s)]

    try:
        return retrying(attempt, "list Azure ML schedules", config)
    except Exception as exc:
        raise refused(exc, "listing Azure ML schedules") from exc


def _find(config: AzureMLConfig, name: str) -> Any | None:
    ml = ml_client(config)
    try:
        return retrying(lambda: ml.schedules.get(azure_name(name)), f"get Azure ML schedule {name}", config)
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise refused(exc, f"reading Azure ML schedule {name}") from exc


def _get(config: AzureMLConfig, name: str) -> Any:
    found = _find(config, name)
    if found is not None:
        return found
    known = ", ".join(sorted(info(s, config).name for s in _list(config))) or "none"
    raise ScheduleNotFoundError(
        f"no Azure ML schedule {name!r} in workspace {config.workspace_name}; schedules: {known}"
    )


def _write(config: AzureMLConfig, what: str, call: Any) -> Any:
    """One schedule write (create/update/enable/disable/delete), waited on, retried, translated."""
    try:
        return retrying(lambda: call().result(), what, config)
    except Exception as exc:
        raise refused(exc, what) from exc


# -- the backend operations ------------------------------------------------------------------
def create(spec: ScheduleSpec, config: AzureMLConfig) -> ScheduleInfo:
    """Create the schedule, or replace the one of that name (a PUT: a retried one is harmless)."""
    config.validate()
    if not spec.job.units:
        raise ConfigError(f"schedule {spec.name!r}: the pipeline has no execution units")
    windows_zone(spec.timezone)  # refuse an unmappable zone before building anything
    ml = ml_client(config)
    _write(
        config,
        f"create Azure ML schedule {spec.name}",
        lambda: _create_schedule(ml, build_schedule(spec, config)),
    )
    log.info("Azure ML schedule %s: %s (%s)", azure_name(spec.name), spec.cron, spec.timezone)
    return info(_get(config, spec.name), config)


def list_all(config: AzureMLConfig) -> list[ScheduleInfo]:
    return [info(s, config) for s in _list(config)]


def pause(name: str, config: AzureMLConfig) -> ScheduleInfo:
    schedule = _get(config, name)
    if schedule.is_enabled:
        ml = ml_client(config)
        _write(config, f"disable Azure ML schedule {name}", lambda: ml.schedules.begin_disable(schedule.name))
        schedule = _get(config, name)
    return info(schedule, config)


def resume(name: str, config: AzureMLConfig) -> ScheduleInfo:
    schedule = _get(config, name)
    if not schedule.is_enabled:
        ml = ml_client(config)
        _write(config, f"enable Azure ML schedule {name}", lambda: ml.schedules.begin_enable(schedule.name))
        schedule = _get(config, name)
    return info(schedule, config)


def delete(name: str, config: AzureMLConfig) -> bool:
    if _find(config, name) is None:
        return False
    ml = ml_client(config)

    def attempt() -> None:
        try:
            ml.schedules.begin_delete(azure_name(name)).result()
        except Exception as exc:
            if not is_not_found(exc):  # a retried delete whose first answer was lost
                raise

    try:
        retrying(attempt, f"delete Azure ML schedule {name}", config)
    except Exception as exc:
        raise refused(exc, f"deleting Azure ML schedule {name}") from exc
    return True


def fire_time_of(job: Any) -> dt.datetime | None:
    """The trigger time Azure ML resolved into a fired job's ``fire_time`` input (None if absent)."""
    value = (getattr(job, "inputs", None) or {}).get(FIRE_TIME_INPUT)
    text = getattr(value, "_data", value)
    if not isinstance(text, str) or not text or text.startswith("${{"):
        return None
    try:
        return parse_fire_time(text)
    except ValueError:
        log.warning("job %s: unreadable fire time %r", getattr(job, "name", "?"), text)
        return None


def runs(name: str, config: AzureMLConfig) -> list[RunHandle]:
    """Handles of the pipeline jobs the schedule created (one list call), for the run registry."""
    ml = ml_client(config)
    scheduled = azure_name(name)

    def attempt() -> list[Any]:
        return list(ml.jobs.list(schedule_defined=True, scheduled_job_name=scheduled))

    try:
        jobs = retrying(attempt, f"list the runs of Azure ML schedule {name}", config)
    except Exception as exc:
        raise refused(exc, f"listing the runs of Azure ML schedule {name}") from exc
    handles = []
    for job in jobs:
        tags = getattr(job, "tags", None) or {}
        fired = fire_time_of(job)
        if fired is None or tags.get(SCHEDULE_LABEL, name) != name:
            continue
        nodes = {getattr(node, "display_name", None) or key: key for key, node in (job.jobs or {}).items()}
        services = getattr(job, "services", None) or {}
        handles.append(
            RunHandle(
                backend=BACKEND,
                run_id=scheduled_run_id(name, fired),
                job_id=job.name,
                units=nodes,
                metadata={
                    "job_type": "pipeline",
                    "experiment": getattr(job, "experiment_name", None),
                    "studio_url": getattr(services.get("Studio"), "endpoint", None),
                    "workspace": config.workspace_name,
                    "schedule": name,
                },
                pipeline_name=tags.get("flowyml.pipeline", ""),
            )
        )
    return handles
