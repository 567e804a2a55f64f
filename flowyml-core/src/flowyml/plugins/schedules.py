"""Native schedules (capability ``schedules``): what crosses the contract, and the run-id rule.

A schedule is a cron expression in a time zone plus a job spec *template*: the spec of a run
whose ``run_id`` is the schedule's name. Each firing is a normal run of that template under the
run id :func:`scheduled_run_id` derives from the schedule name and the fire time, so a re-fire
of the same instant finds the same run (the idempotent submit path does the rest).
"""

from __future__ import annotations

__all__ = [
    "ScheduleSpec",
    "ScheduleInfo",
    "NoSchedulesError",
    "ScheduleNotFoundError",
    "SCHEDULE_LABEL",
    "FIRE_TIME_FORMAT",
    "scheduled_run_id",
    "job_for_firing",
    "check_cron",
    "parse_fire_time",
    "claim_firing",
]

import datetime as dt
from typing import Any

import attrs

from flowyml.core.errors import PluginError, RunNotFoundError
from flowyml.plugins.types import JobSpec, _JsonMixin

#: The label every scheduled run carries: the schedule that fired it.
SCHEDULE_LABEL = "flowyml-schedule"
#: How a fire time appears in a run id (UTC, to the second).
FIRE_TIME_FORMAT = "%Y%m%d-%H%M%S"


class NoSchedulesError(PluginError):
    """The backend has no native schedules (it lacks the ``schedules`` capability)."""


class ScheduleNotFoundError(RunNotFoundError):
    """No schedule of that name on the backend."""


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("schedule times are aware datetimes (datetime.now(timezone.utc)), not naive ones")
    return value


@attrs.define(frozen=True)
class ScheduleSpec(_JsonMixin):
    """What ``Backend.schedule_create`` receives: when to fire, and the run to start each time.

    ``job`` is the template: its ``run_id`` is the schedule's name; each firing submits
    :func:`job_for_firing` of it. ``paused`` creates the schedule without firing it yet.
    """

    name: str
    cron: str
    job: JobSpec
    timezone: str = "UTC"
    paused: bool = False

    @property
    def pipeline_name(self) -> str:
        return self.job.pipeline_name


@attrs.define(frozen=True)
class ScheduleInfo:
    """A schedule as its backend reports it: ``next_fire_time`` is None while paused."""

    name: str
    backend: str
    cron: str
    timezone: str = "UTC"
    pipeline_name: str = ""
    paused: bool = False
    next_fire_time: dt.datetime | None = attrs.field(default=None, validator=lambda _i, _a, v: _aware(v))
    #: the run the last firing started, where the backend knows it
    last_run_id: str | None = None
    #: the service's id of the schedule (a Vertex resource name, an ARN), where it has one
    native_id: str | None = None
    #: the last firing's error, or why the schedule is not firing
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        doc = attrs.asdict(self)
        doc["next_fire_time"] = self.next_fire_time.isoformat() if self.next_fire_time else None
        return doc


def scheduled_run_id(name: str, fire_time: dt.datetime) -> str:
    """``<schedule>-<yyyymmdd-hhmmss>`` of the fire time in UTC: the same instant, the same run."""
    aware = _aware(fire_time)
    assert aware is not None
    return f"{name}-{aware.astimezone(dt.timezone.utc).strftime(FIRE_TIME_FORMAT)}"


def job_for_firing(template: JobSpec, schedule: str, fire_time: dt.datetime) -> JobSpec:
    """The job spec of one firing: the template under the firing's run id, labelled with the schedule."""
    return attrs.evolve(
        template,
        run_id=scheduled_run_id(schedule, fire_time),
        labels={**template.labels, SCHEDULE_LABEL: schedule},
    )


def check_cron(cron: str, timezone: str) -> None:
    """Validate the expression and zone with flowyml's one cron parser (``flowyml[cron]``)."""
    from flowyml.aio.cron import CronSchedule
    from flowyml.core.errors import ConfigError

    try:
        CronSchedule(cron, timezone)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"schedule: {exc}") from None
    except ImportError as exc:
        raise PluginError(str(exc)) from None


#: Other forms a service may write a time in: .NET's invariant ``G`` and sortable-with-slashes (UTC).
OTHER_FIRE_TIME_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%Y/%m/%d %H:%M:%S")


def parse_fire_time(text: str) -> dt.datetime:
    """A fire time as a service hands it over (RFC 3339, ``...Z`` or with an offset; or one of
    :data:`OTHER_FIRE_TIME_FORMATS`, read as UTC) -> aware UTC."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        for form in OTHER_FIRE_TIME_FORMATS:
            try:
                value = dt.datetime.strptime(text.strip(), form)
                break
            except ValueError:
                continue
        else:
            raise ValueError(
                f"invalid schedule fire time {text!r}: expected RFC 3339, e.g. 2026-12-02T03:00:00Z"
            ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def claim_firing(store: Any, template: JobSpec, schedule: str, fire_time: dt.datetime) -> JobSpec:
    """In a unit started by a cloud schedule: the firing's spec, written create-only to its run's
    key (the first unit of the firing writes it; every other unit, or a retried one, reads the same)."""
    from flowyml.orchestrators.layout import RunLayout

    job = job_for_firing(template, schedule, fire_time)
    store.write_json(RunLayout(job.run_id).spec, job.to_dict(), create_only=True)
    return job
