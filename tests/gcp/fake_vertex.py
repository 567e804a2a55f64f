"""A fake of the Vertex AI v1 REST API (CustomJobs, PipelineJobs, Schedules) and Cloud Logging ``entries:list``.

Standard library only. It keeps jobs in memory, records every request, lets a test force
states, inject transient faults per operation, and *execute* what was submitted: each job
(or each PipelineJob task, in dependency order) runs its container command and environment as
a local subprocess, and every output line becomes a Cloud Logging entry of that job.
It also acts as the tripwire of the egress guard: the gRPC proxy and the GCE metadata server
point here, so anything that tries to leave the machine is recorded instead.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import itertools
import json
import os
import re
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROJECT_NUMBER = "123456789012"
PREFIX = {"customJobs": "JOB_STATE_", "pipelineJobs": "PIPELINE_STATE_"}
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED", "PARTIALLY_SUCCEEDED"}
TASK_STATE_OF = {  # pipeline state -> the state its tasks show when a test forces the pipeline
    "QUEUED": "PENDING",
    "PENDING": "PENDING",
    "RUNNING": "RUNNING",
    "SUCCEEDED": "SUCCEEDED",
    "FAILED": "FAILED",
    "CANCELLING": "CANCELLING",
    "CANCELLED": "CANCELLED",
    "PAUSED": "PENDING",
    "UNSPECIFIED": "PENDING",
}
STATUS_NAME = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
SEVERITY_RANK = {
    s: i
    for i, s in enumerate(["DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY"])
}
#: the contract kit's operation names -> the fake's
OPERATIONS = {"submit": "create", "status": "get", "cancel": "cancel", "logs": "logs", "list": "list"}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    operation: str
    status: int = 0
    fault: bool = False


@dataclass
class Fault:
    operation: str
    status: int = 503
    after_commit: bool = False
    retry_after: int | None = None


@dataclass
class Execution:
    """What happened when the fake ran one job or task."""

    name: str
    command: list[str]
    returncode: int
    output: list[str] = field(default_factory=list)


class _Clock:
    """Strictly increasing RFC 3339 timestamps (microseconds), so log order is unambiguous."""

    def __init__(self) -> None:
        self._last = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> str:
        with self._lock:
            t = max(dt.datetime.now(dt.timezone.utc), self._last + dt.timedelta(microseconds=1))
            self._last = t
            return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeVertex:
    """The fake server. ``start()``/``stop()``; every test control takes the lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.clock = _Clock()
        self.jobs: dict[str, dict[str, Any]] = {}
        self.schedules: dict[str, dict[str, Any]] = {}
        self.plans: dict[str, list[str]] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.entries: list[dict[str, Any]] = []
        self.executions: list[Execution] = []
        self.egress: list[str] = []
        self.metadata_probes: list[str] = []
        self.unhandled: list[str] = []
        #: what ``taskDetails[].taskName`` holds: the DAG key ("key") or the task's display name ("display")
        self.task_names = "key"
        self._ids = itertools.count(8_000_000_000_000_000_001)
        self._insert = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> FakeVertex:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="fake-vertex", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def host_port(self) -> str:
        assert self._httpd is not None
        return f"127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def url(self) -> str:
        return "http://" + self.host_port

    def reset(self) -> None:
        with self.lock:
            for store in (
                self.jobs,
                self.schedules,
                self.plans,
                self.requests,
                self.faults,
                self.entries,
                self.executions,
                self.unhandled,
            ):
                store.clear()
            self.task_names = "key"

    def reset_requests(self) -> None:
        """Forget the requests recorded so far (count from here)."""
        with self.lock:
            self.requests.clear()

    # -- test controls -----------------------------------------------------------------------
    def set_state(self, name: str, state: str) -> None:
        """Force a job into a native state (short or full name); a pipeline's tasks follow it."""
        with self.lock:
            job = self.jobs[name]
            kind = _kind(name)
            full = state if state.startswith(PREFIX[kind]) else PREFIX[kind] + state
            self._apply(job, full)
            self.plans[name] = []

    def plan(self, name: str, states: list[str]) -> None:
        """States the job moves through, one per GET."""
        kind = _kind(name)
        with self.lock:
            self.plans[name] = [s if s.startswith(PREFIX[kind]) else PREFIX[kind] + s for s in states]

    @contextlib.contextmanager
    def faults_for(
        self,
        operation: str,
        count: int,
        status: int = 503,
        *,
        alternate_commit: bool = False,
        after_commit: bool = False,
        retry_after: int | None = None,
    ) -> Iterator[None]:
        """The next ``count`` calls of ``operation`` fail with ``status``; leftovers are removed on exit.

        ``after_commit``: the call takes effect first, then answers the error (a lost answer);
        ``alternate_commit``: every other fault is like that, starting with the second."""
        op = OPERATIONS.get(operation, operation)
        added = [
            Fault(op, status, after_commit or (alternate_commit and i % 2 == 1), retry_after) for i in range(count)
        ]
        with self.lock:
            self.faults.extend(added)
        try:
            yield
        finally:
            with self.lock:
                self.faults[:] = [f for f in self.faults if not any(f is a for a in added)]

    def calls(self, operation: str | None = None, method: str | None = None, path_regex: str = "") -> list[Recorded]:
        with self.lock:
            return [
                r
                for r in self.requests
                if (operation is None or r.operation == operation)
                and (method is None or r.method == method)
                and re.search(path_regex, r.path)
            ]

    def creates_for_run(self, run_key: str) -> int:
        """Create requests whose body carries this run's key label (committed or not)."""
        return sum(
            1 for r in self.calls("create") if ((r.body or {}).get("labels") or {}).get("flowyml-run-key") == run_key
        )

    def jobs_for_run(self, run_key: str) -> list[str]:
        with self.lock:
            return [
                n
                for n, j in self.jobs.items()
                if (j.get("labels") or {}).get("flowyml-run-key") == run_key and "#" not in n
            ]

    def add_entry(
        self,
        job_id: str,
        text: str | None = None,
        *,
        json_payload: dict | None = None,
        severity: str = "INFO",
        timestamp: str | None = None,
        log_id: str = "workerpool0-0",
    ) -> dict:
        entry: dict[str, Any] = {
            "logName": f"projects/{{project}}/logs/{log_id}",
            "resource": {
                "type": "ml_job",
                "labels": {"job_id": job_id, "project_id": "{project}", "task_name": "workerpool0-0"},
            },
            "timestamp": timestamp or self.clock.now(),
            "receiveTimestamp": self.clock.now(),
            "severity": severity,
            "insertId": f"{next(self._insert):020d}",
        }
        if json_payload is not None:
            entry["jsonPayload"] = json_payload
        else:
            entry["textPayload"] = text or ""
        with self.lock:
            self.entries.append(entry)
        return entry

    # -- execution ---------------------------------------------------------------------------
    def execute(
        self, name: str, env: dict[str, str] | None = None, cwd: str | None = None, timeout: float = 120.0
    ) -> None:
        """Run what was submitted as local subprocesses (image ignored), recording states and logs."""
        kind = _kind(name)
        with self.lock:
            job = copy.deepcopy(self.jobs[name])
            self._apply(self.jobs[name], PREFIX[kind] + "RUNNING")
        if kind == "customJobs":
            container = job["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]
            result = self._run(name.rsplit("/", 1)[-1], container, env, cwd, timeout)
            with self.lock:
                if self._cancelled(name):
                    return
                if result.returncode == 0:
                    self._apply(self.jobs[name], "JOB_STATE_SUCCEEDED")
                else:
                    self.jobs[name]["_error"] = (
                        f"The replica workerpool0-0 exited with a non-zero status of {result.returncode}."
                    )
                    self._apply(self.jobs[name], "JOB_STATE_FAILED")
            return
        self._execute_pipeline(name, job, env, cwd, timeout)

    def _execute_pipeline(
        self, name: str, job: dict, env: dict[str, str] | None, cwd: str | None, timeout: float
    ) -> None:
        spec = job["pipelineSpec"]
        tasks = spec["root"]["dag"]["tasks"]
        done: dict[str, bool] = {}
        failed: list[str] = []
        location = name.split("/")[3]
        while len(done) < len(tasks):
            ready = [
                k for k, t in tasks.items() if k not in done and all(d in done for d in t.get("dependentTasks", []))
            ]
            assert ready, f"fake: cycle or missing dependency in {list(tasks)}"
            key = ready[0]
            if failed or any(not done[d] for d in tasks[key].get("dependentTasks", [])):
                self._task(name, key, state="NOT_TRIGGERED")
                done[key] = False
                continue
            executor = spec["components"][tasks[key]["componentRef"]["name"]]["executorLabel"]
            container = spec["deploymentSpec"]["executors"][executor]["container"]
            container = {
                "command": container.get("command", []),
                "args": container.get("args", []),
                "env": container.get("env", []),
            }
            job_id = str(next(self._ids))
            main_job = f"projects/{PROJECT_NUMBER}/locations/{location}/customJobs/{job_id}"
            self._task(name, key, state="RUNNING", main_job=main_job, start=True)
            result = self._run(job_id, container, env, cwd, timeout)
            with self.lock:
                if self._cancelled(name):
                    return
            ok = result.returncode == 0
            self._task(
                name,
                key,
                state="SUCCEEDED" if ok else "FAILED",
                end=True,
                error=None if ok else f"The replica workerpool0-0 exited with status {result.returncode}.",
            )
            done[key] = ok
            if not ok:
                failed.append(key)
        with self.lock:
            if failed:
                self.jobs[name]["_error"] = (
                    f"The DAG failed because some tasks failed. The failed tasks are: [{', '.join(failed)}]."
                )
                self._apply(self.jobs[name], "PIPELINE_STATE_FAILED", tasks_follow=False)
            else:
                self._apply(self.jobs[name], "PIPELINE_STATE_SUCCEEDED", tasks_follow=False)

    def _cancelled(self, name: str) -> bool:
        return self.jobs[name]["state"].rsplit("_STATE_", 1)[1] in {"CANCELLING", "CANCELLED"}

    def _task(
        self,
        name: str,
        key: str,
        *,
        state: str,
        main_job: str | None = None,
        start: bool = False,
        end: bool = False,
        error: str | None = None,
    ) -> None:
        with self.lock:
            details = self.jobs[name].setdefault("jobDetail", {}).setdefault("taskDetails", [])
            task_name = self._task_name(self.jobs[name], key)
            td = next((t for t in details if t["taskName"] == task_name), None)
            if td is None:
                td = {"taskId": str(len(details) + 1), "taskName": task_name, "createTime": self.clock.now()}
                details.append(td)
            td["state"] = state
            if main_job:
                td["executorDetail"] = {"containerDetail": {"mainJob": main_job}}
            if start:
                td["startTime"] = self.clock.now()
            if end:
                td["endTime"] = self.clock.now()
            if error:
                td["error"] = {"code": 9, "message": error}

    def _run(
        self, job_id: str, container: dict, env: dict[str, str] | None, cwd: str | None, timeout: float
    ) -> Execution:
        command = [*container.get("command", []), *container.get("args", [])]
        proc_env = dict(env or os.environ)
        proc_env.update({e["name"]: e.get("value", "") for e in container.get("env", [])})
        proc = subprocess.Popen(
            command, env=proc_env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        lines: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:  # one log entry per line, stamped when it arrives
            line = line.rstrip("\n")
            lines.append(line)
            self._log_line(job_id, line)
        rc = proc.wait(timeout=timeout)
        result = Execution(job_id, command, rc, lines)
        with self.lock:
            self.executions.append(result)
        return result

    def _log_line(self, job_id: str, line: str) -> None:
        """Like Vertex AI: a JSON object line becomes a jsonPayload with its own severity."""
        try:
            doc = json.loads(line)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            severity = str(doc.pop("severity", "INFO")).upper()
            self.add_entry(job_id, json_payload=doc, severity=severity)
        else:
            self.add_entry(job_id, line, severity="INFO")

    # -- state machine -----------------------------------------------------------------------
    def _apply(self, job: dict, state: str, tasks_follow: bool = True) -> None:
        now = self.clock.now()
        job["state"], job["updateTime"] = state, now
        short = state.rsplit("_STATE_", 1)[1]
        if short == "RUNNING":
            job.setdefault("startTime", now)
        if short in TERMINAL:
            job["endTime"] = now
        if short == "FAILED":
            job["error"] = {"code": 9, "message": job.get("_error") or "fake: the job failed"}
        elif short == "CANCELLED":
            job["error"] = {"code": 1, "message": "CANCELED"}
        else:
            job.pop("error", None)
        if tasks_follow and "pipelineSpec" in job:
            task_state = TASK_STATE_OF.get(short, "PENDING")
            details = job.setdefault("jobDetail", {}).setdefault("taskDetails", [])
            if not details:  # like Vertex AI: the pipeline's own (root) task comes first
                root = job["pipelineSpec"].get("pipelineInfo", {}).get("name", "pipeline")
                details.append({"taskId": "1", "taskName": root})
            known = {t["taskName"] for t in details}
            for key in job["pipelineSpec"]["root"]["dag"]["tasks"]:
                if self._task_name(job, key) not in known:
                    details.append({"taskId": str(len(details) + 1), "taskName": self._task_name(job, key)})
            for t in details:
                t["state"] = task_state

    def _task_name(self, job: dict, key: str) -> str:
        if self.task_names == "display":
            return str(job["pipelineSpec"]["root"]["dag"]["tasks"][key]["taskInfo"]["name"])
        return key

    def _advance(self, name: str) -> None:
        plan = self.plans.get(name)
        if plan:
            self._apply(self.jobs[name], plan.pop(0))

    # -- request handling --------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, body: Any) -> tuple[int, Any, dict[str, str]]:
        operation = _operation(method, path)
        rec = Recorded(method, path, query, body, operation)
        with self.lock:
            self.requests.append(rec)
            fault = next((f for f in self.faults if f.operation == operation), None)
            if fault is not None:
                self.faults.remove(fault)
        headers = {"Retry-After": str(fault.retry_after)} if fault and fault.retry_after is not None else {}
        if fault is not None and not fault.after_commit:
            rec.status, rec.fault = fault.status, True
            return fault.status, _error(fault.status, "injected fault"), headers
        try:
            with self.lock:
                status, payload = self._route(method, path, query, body)
        except ApiError as exc:
            status, payload = exc.status, _error(exc.status, exc.message)
        if fault is not None:
            rec.status, rec.fault = fault.status, True
            return fault.status, _error(fault.status, "injected fault (after commit)"), headers
        rec.status = status
        return status, payload, {}

    def _route(self, method: str, path: str, query: dict, body: Any) -> tuple[int, Any]:
        m = re.fullmatch(
            r"/v1/projects/([^/]+)/locations/([^/]+)/(customJobs|pipelineJobs)(?:/([^/:]+))?(:cancel)?", path
        )
        if m:
            _project, location, kind, job_id, cancel = m.groups()
            if job_id is None and method == "POST":
                return 200, self._public(self._create(kind, location, body or {}, query))
            if job_id is None and method == "GET":
                return 200, self._list(kind, query)
            name = self._find(kind, location, job_id)
            if cancel and method == "POST":
                return 200, self._cancel(name)
            if method == "GET":
                self._advance(name)
                return 200, self._public(self.jobs[name])
        if path == "/v2/entries:list" and method == "POST":
            return 200, self._list_entries(body or {})
        m = re.fullmatch(r"/v1/projects/([^/]+)/locations/([^/]+)/schedules(?:/([^/:]+))?(:pause|:resume)?", path)
        if m:
            return self._route_schedule(method, m.group(2), m.group(3), m.group(4), query, body or {})
        self.unhandled.append(f"{method} {path}")
        raise ApiError(404, f"fake has no route for {method} {path}")

    # -- schedules (ScheduleService) ---------------------------------------------------------
    def fire(self, schedule: str, at: dt.datetime) -> str:
        """Fire an active schedule as Vertex AI does at ``at``: create a PipelineJob from its
        ``createPipelineJobRequest`` with the schedule-time placeholder filled in; its name."""
        with self.lock:
            sched = self.schedules[schedule]
            assert sched["state"] == "ACTIVE", f"fake: {schedule} is {sched['state']}, it does not fire"
            when = at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            request = json.loads(
                json.dumps(sched["createPipelineJobRequest"]).replace("{{$.pipeline_job_schedule_time_utc}}", when)
            )
            location = schedule.split("/")[3]
            job = self._create("pipelineJobs", location, request["pipelineJob"], {})
            job["scheduleName"] = schedule
            sched["startedRunCount"] = str(int(sched.get("startedRunCount", "0")) + 1)
            sched["lastScheduledRunResponse"] = {"scheduledRunTime": when, "runResponse": job["name"]}
            sched["nextRunTime"] = self._next_run(sched, at)
            return str(job["name"])

    @staticmethod
    def _next_run(sched: dict, after: dt.datetime) -> str:
        """What Vertex AI shows as ``nextRunTime`` (computed with flowyml's cron parser)."""
        from flowyml.aio.cron import CronSchedule

        zone, _, cron = sched["cron"].partition(" ")
        fire = CronSchedule(cron, zone.split("=", 1)[1]).next_after(after)
        return fire.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _route_schedule(
        self, method: str, location: str, sched_id: str | None, action: str | None, query: dict, body: dict
    ) -> tuple[int, Any]:
        if sched_id is None and method == "POST":
            if not body.get("displayName") or not body.get("cron", "").startswith(("TZ=", "CRON_TZ=")):
                raise ApiError(400, "display_name and a cron with TZ= are required")
            if not body.get("createPipelineJobRequest", {}).get("pipelineJob", {}).get("pipelineSpec"):
                raise ApiError(400, "create_pipeline_job_request.pipeline_job.pipeline_spec is required")
            name = f"projects/{PROJECT_NUMBER}/locations/{location}/schedules/{next(self._ids)}"
            now = self.clock.now()
            sched = {**copy.deepcopy(body), "name": name, "state": "ACTIVE", "createTime": now, "updateTime": now}
            sched["nextRunTime"] = self._next_run(sched, dt.datetime.now(dt.timezone.utc))
            self.schedules[name] = sched
            return 200, copy.deepcopy(sched)
        if sched_id is None and method == "GET":
            items = [copy.deepcopy(x) for x in self.schedules.values() if _matches(x, (query.get("filter") or [""])[0])]
            return 200, _page(
                items, "schedules", (query.get("pageSize") or ["0"])[0], (query.get("pageToken") or [""])[0]
            )
        name = f"projects/{PROJECT_NUMBER}/locations/{location}/schedules/{sched_id}"
        if name not in self.schedules:
            raise ApiError(404, f"{name} not found")
        sched = self.schedules[name]
        if method == "GET" and not action:
            return 200, copy.deepcopy(sched)
        if method == "DELETE" and not action:
            del self.schedules[name]
            return 200, {"name": f"{name}/operations/1", "done": True, "response": {"@type": _EMPTY}}
        if method == "POST" and action == ":pause":
            if sched["state"] != "ACTIVE":
                raise ApiError(400, f"{name} is {sched['state']}: only an ACTIVE schedule can be paused")
            sched.update(state="PAUSED", lastPauseTime=self.clock.now())
            sched.pop("nextRunTime", None)
            return 200, {}
        if method == "POST" and action == ":resume":
            if sched["state"] != "PAUSED":
                raise ApiError(400, f"{name} is {sched['state']}: only a PAUSED schedule can be resumed")
            sched.update(state="ACTIVE", lastResumeTime=self.clock.now(), catchUp=bool(body.get("catchUp")))
            sched["nextRunTime"] = self._next_run(sched, dt.datetime.now(dt.timezone.utc))
            return 200, {}
        raise ApiError(404, f"fake has no route for {method} {name}{action or ''}")

    def _find(self, kind: str, location: str, job_id: str) -> str:
        name = f"projects/{PROJECT_NUMBER}/locations/{location}/{kind}/{job_id}"
        if name not in self.jobs:
            raise ApiError(404, f"{name} not found")
        return name

    def _create(self, kind: str, location: str, body: dict, query: dict) -> dict:
        if not body.get("displayName"):
            raise ApiError(400, "display_name is required")
        if kind == "customJobs":
            pools = body.get("jobSpec", {}).get("workerPoolSpecs") or []
            if not pools or not pools[0].get("containerSpec", {}).get("imageUri"):
                raise ApiError(400, "worker_pool_specs[0].container_spec.image_uri is required")
            job_id = str(next(self._ids))
        else:
            if not body.get("pipelineSpec", {}).get("root", {}).get("dag", {}).get("tasks"):
                raise ApiError(400, "pipeline_spec.root.dag.tasks is required")
            if not body.get("runtimeConfig", {}).get("gcsOutputDirectory", "").startswith("gs://"):
                raise ApiError(400, "runtime_config.gcs_output_directory must be a gs:// URI")
            job_id = (query.get("pipelineJobId") or [""])[0] or f"pipeline-{next(self._ids)}"
            if not re.fullmatch(r"[a-z][-a-z0-9]{0,127}", job_id):
                raise ApiError(400, f"invalid pipeline_job_id {job_id!r}")
        name = f"projects/{PROJECT_NUMBER}/locations/{location}/{kind}/{job_id}"
        if name in self.jobs:
            raise ApiError(409, f"{name} already exists")
        for key, value in (body.get("labels") or {}).items():
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key) or not re.fullmatch(r"[a-z0-9_-]{0,63}", value):
                raise ApiError(400, f"invalid label {key}={value}")
        job = copy.deepcopy(body)
        job.update(name=name, createTime=self.clock.now())
        self.jobs[name] = job
        self._apply(job, PREFIX[kind] + "PENDING")
        return job

    def _cancel(self, name: str) -> dict:
        job = self.jobs[name]
        short = job["state"].rsplit("_STATE_", 1)[1]
        if short in TERMINAL:
            raise ApiError(400, f"{name} is in state {job['state']} and cannot be cancelled")
        prefix = job["state"].rsplit("_STATE_", 1)[0] + "_STATE_"
        if short != "CANCELLING":
            self._apply(job, prefix + "CANCELLING")
        self.plans[name] = [prefix + "CANCELLED"]
        return {}

    def _list(self, kind: str, query: dict) -> dict:
        flt = (query.get("filter") or [""])[0]
        items = [self._public(j) for n, j in self.jobs.items() if f"/{kind}/" in n and _matches(j, flt)]
        for item in items:  # like Vertex AI: "jobDetail: not available in the list view"
            item.pop("jobDetail", None)
        return _page(items, kind, (query.get("pageSize") or ["0"])[0], (query.get("pageToken") or [""])[0])

    def _list_entries(self, body: dict) -> dict:
        items = [e for e in self.entries if _matches(e, body.get("filter", ""))]
        desc = str(body.get("orderBy", "timestamp asc")).lower().endswith("desc")
        items.sort(key=lambda e: (_ts(e["timestamp"]), e["insertId"]), reverse=desc)
        project = (body.get("resourceNames") or ["projects/unknown"])[0].split("/")[1]
        items = [json.loads(json.dumps(e).replace("{project}", project)) for e in items]
        return _page(items, "entries", str(body.get("pageSize", 50)), str(body.get("pageToken", "")))

    @staticmethod
    def _public(job: dict) -> dict:
        return {k: v for k, v in job.items() if not k.startswith("_")}


_EMPTY = "type.googleapis.com/google.protobuf.Empty"


def _kind(name: str) -> str:
    return name.split("/")[4]


def _operation(method: str, path: str) -> str:
    if path == "/v2/entries:list":
        return "logs"
    if path.endswith(":cancel"):
        return "cancel"
    if re.search(r"/(customJobs|pipelineJobs)$", path):
        return "create" if method == "POST" else "list"
    if re.search(r"/(customJobs|pipelineJobs)/[^/]+$", path) and method == "GET":
        return "get"
    if re.search(r"/schedules$", path):
        return "schedule_create" if method == "POST" else "schedule_list"
    return "other"


def _page(items: list, key: str, size: str, token: str) -> dict:
    n = int(size or 0) or 50
    start = int(token or 0)
    out: dict[str, Any] = {key: items[start : start + n]}
    if start + n < len(items):
        out["nextPageToken"] = str(start + n)
    return out


_TOKEN = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|>=|<=|!=|=|>|<|:|[^\s()=<>!:"]+)')
_OPS = {">=", "<=", "!=", "=", ">", "<", ":"}


def _matches(resource: dict, flt: str) -> bool:
    """The filter language's core: comparisons, ``AND``, ``OR`` (which binds tighter, as in Cloud
    Logging and AIP-160), ``NOT``, parentheses, and ``field=("a" OR "b")``. Anything else: 400."""
    if not flt.strip():
        return True
    tokens, pos = [], 0
    while pos < len(flt):
        m = _TOKEN.match(flt, pos)
        if not m or m.end() == pos:
            if flt[pos:].strip():
                raise ApiError(400, f"fake filter parser: cannot read {flt[pos:]!r}")
            break
        tokens.append(m.group(1))
        pos = m.end()
    parser = _Filter(tokens, resource)
    result = parser.conjunction()
    if parser.i != len(tokens):
        raise ApiError(400, f"fake filter parser: unexpected {tokens[parser.i]!r} in {flt!r}")
    return result


class _Filter:
    def __init__(self, tokens: list[str], resource: dict) -> None:
        self.tokens, self.i, self.resource = tokens, 0, resource

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ApiError(400, "fake filter parser: the filter ends too early")
        self.i += 1
        return token

    def conjunction(self) -> bool:
        result = self.disjunction()
        while self.peek() == "AND":
            self.take()
            result = self.disjunction() and result  # evaluate both: every term must parse
        return result

    def disjunction(self) -> bool:
        result = self.unary()
        while self.peek() == "OR":
            self.take()
            result = self.unary() or result
        return result

    def unary(self) -> bool:
        token = self.take()
        if token == "NOT":
            return not self.unary()
        if token == "(":
            result = self.conjunction()
            if self.take() != ")":
                raise ApiError(400, "fake filter parser: missing ')'")
            return result
        op = self.take()
        if op not in _OPS:
            raise ApiError(400, f"fake filter parser: expected an operator after {token!r}, got {op!r}")
        if self.peek() == "(":  # field=("a" OR "b")
            self.take()
            values = [self.take()]
            while self.peek() == "OR":
                self.take()
                values.append(self.take())
            if self.take() != ")":
                raise ApiError(400, "fake filter parser: missing ')' after a value list")
            return any(_compare(self.resource, token, op, v) for v in values)
        return _compare(self.resource, token, op, self.take())


def _compare(resource: dict, path: str, op: str, value: str) -> bool:
    value = value[1:-1] if value.startswith('"') else value
    actual = _lookup(resource, path)
    if actual is None:
        return False
    a: Any
    b: Any
    if path == "severity":
        a, b = SEVERITY_RANK.get(str(actual), 0), SEVERITY_RANK.get(value, 0)
    elif path in ("timestamp", "create_time", "createTime"):
        a, b = _ts(str(actual)), _ts(value)
    else:
        a, b = str(actual), value
    return {"=": a == b, "!=": a != b, ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b, ":": str(b) in str(a)}[op]


def _lookup(resource: dict, dotted: str) -> Any:
    node: Any = resource
    parts = dotted.split(".")
    if parts[0] == "labels" and len(parts) > 1:  # label keys may contain dots? not ours: dashes
        parts = ["labels", ".".join(parts[1:])]
    for part in parts:
        camel = re.sub(r"_(\w)", lambda m: m.group(1).upper(), part)
        if not isinstance(node, dict):
            return None
        node = node.get(part, node.get(camel))
    return node


def _ts(value: str) -> tuple[str, int]:
    """Comparable (seconds, nanoseconds) of an RFC 3339 timestamp with any number of digits."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z", value)
    if not m:
        raise ApiError(400, f"fake: bad timestamp {value!r}")
    return m.group(1), int((m.group(2) or "").ljust(9, "0"))


def _error(status: int, message: str) -> dict:
    return {"error": {"code": status, "message": message, "status": STATUS_NAME.get(status, "UNKNOWN")}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeVertex

    def _serve(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if parsed.path.startswith("/computeMetadata") or self.headers.get("Metadata-Flavor"):
            self.fake.metadata_probes.append(parsed.path)
            return self._send(404, {"error": "no metadata server here"}, {})
        if parsed.netloc:  # an absolute URL: a proxied request for some other host
            self.fake.egress.append(f"http {self.command} {self.path}")
            return self._send(403, _error(403, "egress refused by the fake"), {})
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            return self._send(400, _error(400, "body is not JSON"), {})
        status, payload, headers = self.fake.handle(
            self.command, urllib.parse.unquote(parsed.path), urllib.parse.parse_qs(parsed.query), body
        )
        self._send(status, payload, headers)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    def do_CONNECT(self) -> None:  # gRPC through grpc_proxy: something tried to leave the machine
        self.fake.egress.append(f"grpc CONNECT {self.path}")
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass
