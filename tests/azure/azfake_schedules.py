"""The schedule surface of the fake Azure ML (a mixin of ``FakeAzureML``): ``/schedules`` CRUD as
azure-ai-ml's ``ml_client.schedules`` calls it, and ``fire()``, which does what the service does at
a trigger time: a new job from the schedule's job definition, with the schedule expressions
(``${{creation_context.trigger_time}}``, ``${{name}}``) resolved, listed by ``jobs?scheduled=true``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import uuid
from typing import Any

RP = "Microsoft.MachineLearningServices"
TRIGGER_TIME = "${{creation_context.trigger_time}}"
JOB_NAME = "${{name}}"
_INPUT_REF = re.compile(r"\$\{\{inputs\.([A-Za-z0-9_]+)\}\}")
_PARENT_REF = re.compile(r"^\$\{\{parent\.inputs\.([A-Za-z0-9_]+)\}\}$")


def _value(doc: Any) -> Any:
    """A literal input's value (REST spells it ``value``; bindings sit in ``path`` or ``value``)."""
    if isinstance(doc, dict):
        return doc.get("value", doc.get("path"))
    return doc


def resolve_inputs(command: str, inputs: dict[str, Any], parent: dict[str, Any] | None = None) -> str:
    """``${{inputs.x}}`` in a command replaced by the input's literal value, following a
    ``${{parent.inputs.y}}`` binding to the pipeline's input (as Azure ML does before it runs it)."""

    def one(match: re.Match[str]) -> str:
        value = _value(inputs.get(match.group(1)))
        bound = _PARENT_REF.match(str(value)) if value is not None else None
        if bound and parent is not None:
            value = _value(parent.get(bound.group(1)))
        return match.group(0) if value is None else str(value)

    return _INPUT_REF.sub(one, command)


class ScheduleRoutes:
    """Schedules: ``schedules`` (name -> ARM resource), ``fired`` (job name -> schedule name)."""

    #: how the fake writes a trigger time into ``${{creation_context.trigger_time}}`` (an assumption:
    #: the service's exact format is not documented; ISO 8601 in UTC)
    trigger_time_format = "%Y-%m-%dT%H:%M:%SZ"

    def _init_schedules(self) -> None:
        self.schedules: dict[str, dict[str, Any]] = {}
        self.fired: dict[str, str] = {}

    def schedule_routes(self, ws: str) -> list[tuple[str, str, Any]]:
        return [
            ("GET", ws + r"/schedules$", self._list_schedules),
            ("GET", ws + r"/schedules/(?P<name>[^/]+)$", self._get_schedule),
            ("PUT", ws + r"/schedules/(?P<name>[^/]+)$", self._put_schedule),
            ("DELETE", ws + r"/schedules/(?P<name>[^/]+)$", self._delete_schedule),
        ]

    # -- test controls -------------------------------------------------------------------------
    def fire(self, name: str, when: dt.datetime, job_name: str | None = None) -> str:
        """Fire schedule ``name`` for the trigger time ``when``: create its job (a new name, as Azure
        ML picks one) from the job definition with the expressions resolved; returns the job's name."""
        with self._lock:  # type: ignore[attr-defined]
            schedule = self.schedules[name]
            assert schedule["properties"].get("isEnabled", True), f"schedule {name} is disabled: it does not fire"
            job_name = job_name or f"{name}_{uuid.uuid4().hex[:10]}"
            trigger = when.astimezone(dt.timezone.utc).strftime(self.trigger_time_format)
            definition = copy.deepcopy(schedule["properties"]["action"]["jobDefinition"])
            text = json.dumps(definition).replace(TRIGGER_TIME, trigger).replace(JOB_NAME, job_name)
            status, doc, _ = self._put_job({"name": job_name}, {}, {"properties": json.loads(text)}, None)  # type: ignore[attr-defined]
            assert status == 201, doc
            self.fired[job_name] = name
            return job_name

    # -- routes --------------------------------------------------------------------------------
    def _schedule_doc(self, name: str, props: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"{self.ws_path}/schedules/{name}",  # type: ignore[attr-defined]
            "name": name,
            "type": f"{RP}/workspaces/schedules",
            "properties": props,
            "systemData": {"createdAt": dt.datetime.now(dt.timezone.utc).isoformat(), "createdBy": "tester"},
        }

    def _put_schedule(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        props = dict((body or {}).get("properties") or {})
        action = props.get("action") or {}
        if action.get("actionType") != "CreateJob" or not isinstance(action.get("jobDefinition"), dict):
            return 400, {"error": {"code": "UserError", "message": "schedule action must create a job (fake)"}}, {}
        trigger = props.get("trigger") or {}
        if trigger.get("triggerType") == "Cron" and len(str(trigger.get("expression", "")).split()) != 5:
            return 400, {"error": {"code": "UserError", "message": "invalid NCronTab expression (fake)"}}, {}
        props.setdefault("isEnabled", True)
        props["provisioningState"] = "Succeeded"
        created = p["name"] not in self.schedules
        self.schedules[p["name"]] = self._schedule_doc(p["name"], props)
        return (201 if created else 200), self.schedules[p["name"]], {}

    def _get_schedule(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        doc = self.schedules.get(p["name"])
        return (200, doc, {}) if doc else self._not_found(f"schedule {p['name']}")  # type: ignore[attr-defined]

    def _list_schedules(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        view = (q.get("listViewType") or "EnabledOnly").lower()
        docs = list(self.schedules.values())
        if view == "enabledonly":
            docs = [d for d in docs if d["properties"].get("isEnabled", True)]
        elif view == "disabledonly":
            docs = [d for d in docs if not d["properties"].get("isEnabled", True)]
        return 200, {"value": docs}, {}

    def _delete_schedule(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        if self.schedules.pop(p["name"], None) is None:
            return 204, None, {}
        return 200, None, {}

    def scheduled_jobs(self, jobs: list[Any], q: dict[str, str]) -> list[Any]:
        """The jobs list's ``scheduled`` / ``scheduleId`` filters."""
        if q.get("scheduled", "").lower() == "true":
            jobs = [j for j in jobs if j.name in self.fired]
        elif q.get("scheduled", "").lower() == "false":
            jobs = [j for j in jobs if j.name not in self.fired]
        if q.get("scheduleId"):
            jobs = [j for j in jobs if self.fired.get(j.name) == q["scheduleId"]]
        return jobs
