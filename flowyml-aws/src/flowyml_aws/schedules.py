"""Native schedules on AWS: EventBridge Scheduler schedules, one per flowyml schedule.

A flowyml schedule is an EventBridge Scheduler schedule of the same name in the config's
``schedule_group`` (default ``flowyml``), with ``cron(...)`` translated from the 5-field
expression (:mod:`flowyml_aws.aws_cron`) and the time zone as ``ScheduleExpressionTimezone``. Its
``Description`` holds what EventBridge does not keep (the original cron, the pipeline), as JSON.
The target, one API call per firing with ``<aws.scheduler.scheduled-time>`` in its input, is the
backend's: :mod:`flowyml_aws.batch_schedules` (Batch ``SubmitJob``) and
:mod:`flowyml_aws.sagemaker_schedules` (SageMaker ``StartPipelineExecution``). This module holds what
they share: create / list / pause / resume / delete, and the :class:`ScheduleInfo` of a schedule.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from functools import partial
from typing import Any

from flowyml.core.errors import ConfigError
from flowyml.plugins.schedules import ScheduleInfo, ScheduleNotFoundError, ScheduleSpec
from flowyml_aws.aws_cron import to_eventbridge
from flowyml_aws.client import backend_error, call, client_for, error_code

log = logging.getLogger("flowyml.aws.schedules")
#: EventBridge Scheduler fills these in when it invokes the target (context attributes)
FIRE_TIME = "<aws.scheduler.scheduled-time>"
#: universal targets: one AWS API call per firing, ``Input`` being its request (PascalCase members)
BATCH_TARGET = "arn:aws:scheduler:::aws-sdk:batch:submitJob"
SAGEMAKER_TARGET = "arn:aws:scheduler:::aws-sdk:sagemaker:startPipelineExecution"
NAME = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")
MAX_DESCRIPTION = 512
#: how often EventBridge retries a target call that failed (throttling, 5xx), and for how long
RETRY_POLICY = {"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 3600}
#: (last run id, message) of a schedule's latest firing, as the backend finds it
LastFiring = Callable[[str, Any], tuple[str | None, str | None]]


def scheduler(config: Any) -> Any:
    return client_for("scheduler", config)


def check_name(name: str, backend: str) -> None:
    if not NAME.match(name):
        raise ConfigError(
            f"{backend}: schedule name {name!r} does not fit EventBridge Scheduler ([0-9A-Za-z_.-], at most 64 "
            "characters): choose a shorter name"
        )


def _sdk(fn: Callable[[], Any], what: str) -> Any:
    from botocore.exceptions import ClientError

    try:
        return call(fn, what)
    except ClientError as exc:
        raise backend_error(what, exc) from exc


def description(spec: ScheduleSpec, backend: str) -> str:
    """What the schedule must remember beyond EventBridge's own fields (JSON, within 512 characters)."""
    doc = {"flowyml": backend, "cron": spec.cron, "pipeline": spec.pipeline_name[:200]}
    return json.dumps(doc, separators=(",", ":"))[:MAX_DESCRIPTION]


def _meta(schedule: dict[str, Any], backend: str) -> dict[str, Any] | None:
    """The description's JSON, if the schedule is one of ``backend``'s flowyml schedules."""
    try:
        doc = json.loads(schedule.get("Description") or "")
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and doc.get("flowyml") == backend else None


def _ensure_group(config: Any) -> None:
    """Create the schedule group once (reading first: a create over an existing group is refused)."""
    client = scheduler(config)
    group = config.schedule_group

    def attempt() -> None:
        from botocore.exceptions import ClientError

        try:
            client.get_schedule_group(Name=group)
            return
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
        try:
            client.create_schedule_group(Name=group)
            log.info("created EventBridge Scheduler group %s", group)
        except ClientError as exc:
            if error_code(exc) != "ConflictException":  # made meanwhile, or by a lost attempt
                raise

    _sdk(attempt, f"EventBridge Scheduler create_schedule_group {group}")


def create(spec: ScheduleSpec, config: Any, backend: str, make_target: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Create the schedule, or replace the one of that name; returns it as ``get_schedule`` does.

    The name and the expression are checked before ``make_target`` creates anything the target needs.
    """
    check_name(spec.name, backend)
    expression = to_eventbridge(spec.cron)
    client = scheduler(config)
    request = {
        "Name": spec.name,
        "GroupName": config.schedule_group,
        "ScheduleExpression": expression,
        "ScheduleExpressionTimezone": spec.timezone,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": make_target(),
        "State": "DISABLED" if spec.paused else "ENABLED",
        "Description": description(spec, backend),
        "ActionAfterCompletion": "NONE",
    }
    _ensure_group(config)

    def attempt() -> None:
        from botocore.exceptions import ClientError

        try:
            client.create_schedule(**request)
        except ClientError as exc:
            if error_code(exc) != "ConflictException":
                raise
            log.info("replacing EventBridge schedule %s/%s", config.schedule_group, spec.name)
            client.update_schedule(**request)  # the same name: replace it (also after a lost create answer)

    _sdk(attempt, f"EventBridge Scheduler create_schedule {spec.name}")
    return _get(config, spec.name, backend)


def _get_raw(config: Any, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    client = scheduler(config)

    def attempt() -> dict[str, Any] | None:
        try:
            return dict(client.get_schedule(Name=name, GroupName=config.schedule_group))
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise

    found: dict[str, Any] | None = _sdk(attempt, f"EventBridge Scheduler get_schedule {name}")
    return found


def _list(config: Any, backend: str, target_arn: str) -> list[dict[str, Any]]:
    """Every schedule of ``backend`` in the group (one ``list_schedules`` page walk, one get each)."""
    client = scheduler(config)
    summaries: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"GroupName": config.schedule_group}
    while True:
        page = _sdk(partial(client.list_schedules, **kwargs), "EventBridge Scheduler list_schedules")
        summaries += [s for s in page.get("Schedules") or [] if (s.get("Target") or {}).get("Arn") == target_arn]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    found = []
    for summary in summaries:
        schedule = _get_raw(config, summary["Name"])
        if schedule is not None and _meta(schedule, backend) is not None:
            found.append(schedule)
    return sorted(found, key=lambda s: str(s["Name"]))


def find(config: Any, name: str, backend: str) -> dict[str, Any] | None:
    schedule = _get_raw(config, name)
    return schedule if schedule is not None and _meta(schedule, backend) is not None else None


def _get(config: Any, name: str, backend: str) -> dict[str, Any]:
    schedule = find(config, name, backend)
    if schedule is None:
        raise ScheduleNotFoundError(
            f"no {backend} schedule {name!r} in EventBridge Scheduler group {config.schedule_group!r} "
            f"({scheduler(config).meta.region_name})"
        )
    return schedule


def info(schedule: dict[str, Any], backend: str, last: tuple[str | None, str | None] = (None, None)) -> ScheduleInfo:
    from flowyml.aio.cron import CronSchedule

    meta = _meta(schedule, backend) or {}
    cron = str(meta.get("cron") or "")
    timezone = str(schedule.get("ScheduleExpressionTimezone") or "UTC")
    paused = schedule.get("State") == "DISABLED"
    upcoming = None
    if not paused and cron:
        upcoming = CronSchedule(cron, timezone).next_after(dt.datetime.now(dt.timezone.utc))
    return ScheduleInfo(
        name=str(schedule["Name"]),
        backend=backend,
        cron=cron,
        timezone=timezone,
        pipeline_name=str(meta.get("pipeline") or ""),
        paused=paused,
        next_fire_time=upcoming,
        last_run_id=last[0],
        native_id=schedule.get("Arn"),
        message=last[1],
    )


def list_all(config: Any, backend: str, target_arn: str, last: LastFiring) -> list[ScheduleInfo]:
    return [info(s, backend, last(str(s["Name"]), config)) for s in _list(config, backend, target_arn)]


#: what ``update_schedule`` must be sent back to keep a schedule as it is
_KEPT = (
    "Name",
    "GroupName",
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "Description",
    "Target",
    "FlexibleTimeWindow",
    "StartDate",
    "EndDate",
    "KmsKeyArn",
    "ActionAfterCompletion",
)


def set_state(config: Any, name: str, backend: str, state: str) -> dict[str, Any]:
    """ENABLED / DISABLED. ``update_schedule`` replaces the whole schedule: send back what it holds."""
    schedule = _get(config, name, backend)
    if schedule.get("State") == state:
        return schedule
    request = {k: schedule[k] for k in _KEPT if schedule.get(k) not in (None, "")}
    client = scheduler(config)
    _sdk(partial(client.update_schedule, **request, State=state), f"EventBridge Scheduler update_schedule {name}")
    return _get(config, name, backend)


def delete(config: Any, name: str, backend: str) -> bool:
    """Delete the schedule: True if it existed (a retry whose first answer was lost counts as deleted)."""
    from botocore.exceptions import ClientError

    if find(config, name, backend) is None:
        return False
    client = scheduler(config)

    def attempt() -> None:
        try:
            client.delete_schedule(Name=name, GroupName=config.schedule_group)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise

    _sdk(attempt, f"EventBridge Scheduler delete_schedule {name}")
    return True


def target(arn: str, config: Any, request: dict[str, Any]) -> dict[str, Any]:
    """A universal target: EventBridge assumes ``scheduler_role_arn`` and calls ``arn`` with ``request``."""
    return {
        "Arn": arn,
        "RoleArn": config.scheduler_role_arn,
        "Input": json.dumps(request, separators=(",", ":")),
        "RetryPolicy": dict(RETRY_POLICY),
    }


def target_input(schedule: dict[str, Any]) -> dict[str, Any]:
    """The request a schedule's target sends (its ``Input`` JSON, context attributes unfilled)."""
    return dict(json.loads((schedule.get("Target") or {}).get("Input") or "{}"))
