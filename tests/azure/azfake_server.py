"""A fake of the Azure ML REST surface azure-ai-ml and flowyml-azure use, over HTTPS on 127.0.0.1.

ARM ("MFE") jobs, components, environments, computes, datastores and the workspace; workspace
discovery; run history (run details with log-file URLs and errors, child runs); log files served
with HTTP ranges like Blob Storage. It records every request (parsed JSON bodies), injects
faults, lets tests force states, and can *execute* a submitted job: each unit's command and
environment run as a local subprocess, in dependency order, with output captured as the job's log.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import socket
import ssl
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from azfake_infra import AZURITE_ACCOUNT, REPO, make_tls_files
from azfake_schedules import ScheduleRoutes, resolve_inputs

RP = "Microsoft.MachineLearningServices"
ENDED = {"Completed", "Failed", "Canceled"}
USER_LOG = "user_logs/std_log.txt"
EXECUTION_LOG = "logs/azureml/executionlogs.txt"
BINDING = re.compile(r"\$\{\{parent\.jobs\.([A-Za-z0-9_]+)\.outputs\.")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _audience(token: str) -> str | None:
    """The ``aud`` of an (unverified) JWT."""
    try:
        claims = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4))).get("aud")
    except (IndexError, ValueError):
        return None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    status: int = 0

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")


@dataclass
class Fault:
    """Fail matching requests: ``status`` (None = drop the connection); ``after``: process the
    request first, then fail the answer (a lost response)."""

    status: int | None
    times: int
    method: str | None = None
    path: str | None = None
    retry_after: float | None = None
    after: bool = False
    hits: int = 0


@dataclass
class Run:
    """A run-history run: a command job, a pipeline job, or a pipeline node's child run."""

    run_id: str
    status: str = "NotStarted"
    display: str | None = None
    parent: str | None = None
    node: str | None = None
    target: str | None = None
    error: dict[str, Any] | None = None
    created: str = field(default_factory=_now)
    started: str | None = None
    ended: str | None = None
    logs: dict[str, bytearray] = field(default_factory=dict)

    def write(self, text: str, file: str = USER_LOG) -> None:
        self.logs.setdefault(file, bytearray()).extend(text.encode())


@dataclass
class Job:
    name: str
    resource: dict[str, Any]
    run: Run
    children: dict[str, Run] = field(default_factory=dict)  # node -> child run

    @property
    def props(self) -> dict[str, Any]:
        return self.resource["properties"]

    @property
    def is_pipeline(self) -> bool:
        return self.props.get("jobType") == "Pipeline"


class FakeAzureML(ScheduleRoutes):
    """See the module docstring. Controls: ``set_state``, ``inject``, ``execute``, ``find``."""

    def __init__(
        self,
        *,
        subscription_id: str = "00000000-0000-0000-0000-00000000f10e",
        resource_group: str = "flowyml-rg",
        workspace: str = "flowyml-ws",
        computes: tuple[str, ...] = ("cpu-cluster", "gpu-cluster"),
        tls: dict[str, str] | None = None,
    ) -> None:
        self.subscription_id, self.resource_group, self.workspace = subscription_id, resource_group, workspace
        self.workspace_guid = str(uuid.uuid4())
        self.computes = set(computes)
        self.jobs: dict[str, Job] = {}
        self.runs: dict[str, Run] = {}
        self.assets: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.creates: dict[str, int] = {}
        self.executions: list[dict[str, Any]] = []
        self.unrouted: list[str] = []  # "METHOD path" of every request no route matched (a 404)
        self.exec_env: dict[str, str] = {}
        self.job_cwd: Path = REPO  # the working directory every job runs in (an image's WORKDIR)
        self.list_page_size = 100  # an assumption: the service's page size of the jobs list is not documented
        self.msi_secret = uuid.uuid4().hex
        self.msi_tokens: list[str] = []  # the resource of every token the platform identity issued
        #: when set, a pipeline submission's x-azureml-token must be for this audience (sovereign clouds)
        self.aml_audience: str | None = None
        self._lock = threading.RLock()
        self._tmp = Path(tempfile.mkdtemp(prefix="fake-aml-"))
        self.tls = tls or make_tls_files(self._tmp)
        self._server: ThreadingHTTPServer | None = None
        self._init_schedules()
        self._routes = self._build_routes()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakeAzureML:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.tls["cert"], self.tls["key"])
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        threading.Thread(target=server.serve_forever, name="fake-aml", daemon=True).start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def ca_file(self) -> str:
        return self.tls["ca"]

    @property
    def ws_path(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{RP}/workspaces/{self.workspace}"
        )

    # -- test controls -------------------------------------------------------------------------
    def inject(
        self,
        status: int | None,
        times: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
        after: bool = False,
    ) -> Fault:
        fault = Fault(status, times, method, path, retry_after, after)
        with self._lock:
            self.faults.append(fault)
        return fault

    @contextmanager
    def faulted(self, *faults: Fault) -> Iterator[list[Fault]]:
        """Keep ``faults`` active inside the block only."""
        try:
            yield list(faults)
        finally:
            with self._lock:
                for f in faults:
                    if f in self.faults:
                        self.faults.remove(f)

    def find(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or re.search(path, r.path, re.I))
            ]

    def set_state(self, name: str, state: str, error: dict[str, Any] | None = None) -> None:
        """Force a job (and, for a pipeline, every node's child run) into a native state."""
        with self._lock:
            job = self.jobs[name]
            runs = [job.run, *self._ensure_children(job).values()] if job.is_pipeline else [job.run]
            for run in runs:
                run.status = state
                run.error = (
                    error or {"code": "UserError", "message": f"{run.run_id} failed (fake)"}
                    if state == "Failed"
                    else None
                )
            job.props["status"] = state

    def settle(self, name: str) -> None:
        """Finish pending transitions (CancelRequested -> Canceled)."""
        with self._lock:
            job = self.jobs.get(name)
            if job is not None and job.run.status == "CancelRequested":
                self.set_state(name, "Canceled")

    def pipeline_body(self, name: str) -> dict[str, Any]:
        """The last PUT body of a job."""
        puts = [r for r in self.find("PUT", rf"/jobs/{re.escape(name)}$") if r.status in (200, 201)]
        return puts[-1].body

    def component(self, component_id: str) -> dict[str, Any]:
        key = component_id.lower().split("/workspaces/", 1)[-1].split("/", 1)[-1]
        return self.assets[key]

    # -- execution ----------------------------------------------------------------------------
    def unit_commands(self, name: str) -> list[tuple[str, str, dict[str, str], list[str]]]:
        """(node, command, env, upstream nodes) of each unit, in dependency order."""
        job = self.jobs[name]
        if not job.is_pipeline:
            command = resolve_inputs(job.props["command"], job.props.get("inputs") or {})
            return [(name, command, dict(job.props.get("environmentVariables") or {}), [])]
        specs = {}
        for node, body in job.props["jobs"].items():
            comp = self.component(body["componentId"])["properties"]["componentSpec"]
            env = dict(comp.get("environment_variables") or {})
            env.update(body.get("environment_variables") or {})
            ups = sorted(
                {
                    m.group(1)
                    for v in (body.get("inputs") or {}).values()
                    for m in BINDING.finditer(str(v.get("path") or v.get("value") or ""))
                }
            )
            command = resolve_inputs(comp["command"], body.get("inputs") or {}, job.props.get("inputs") or {})
            specs[node] = (node, command, env, ups)
        ordered: list[tuple[str, str, dict[str, str], list[str]]] = []
        while len(ordered) < len(specs):
            done = {o[0] for o in ordered}
            ready = [s for s in specs.values() if s[0] not in done and all(u in done for u in s[3])]
            assert ready, f"dependency cycle in {name}"
            ordered.extend(sorted(ready))
        return ordered

    def execute(self, name: str, background: bool = False) -> threading.Thread | None:
        """Run the job's units as local subprocesses (image ignored), recording states and logs."""
        if background:
            thread = threading.Thread(target=self._execute, args=(name,), daemon=True)
            thread.start()
            return thread
        self._execute(name)
        return None

    def _execute(self, name: str) -> None:
        with self._lock:
            job = self.jobs[name]
            job.run.status, job.run.started = "Running", _now()
            job.props["status"] = "Running"
            units = self.unit_commands(name)
        failed: list[str] = []
        for node, command, env, _ups in units:
            run = job.run
            if job.is_pipeline:
                with self._lock:
                    run = self._ensure_children(job)[node]
                    if failed or job.run.status in ("CancelRequested", "Canceled"):
                        run.status = "Canceled"
                        continue
                    run.status, run.started = "Running", _now()
                    job.run.write(f"{_now()} node {node} started\n", EXECUTION_LOG)
            code = self._run_process(command, env, run)
            with self._lock:
                run.ended = _now()
                if code != 0:
                    tail = [ln for ln in bytes(run.logs.get(USER_LOG, b"")).decode().splitlines() if ln.strip()][-3:]
                    run.status = "Failed"
                    run.error = {
                        "code": "UserError",
                        "message": (
                            f"Execution failed. User process '{command.split()[0]}' exited with status code {code}. "
                            f"Please check log file '{USER_LOG}' for error details. Error: " + " | ".join(tail)
                        ),
                    }
                    failed.append(node)
                else:
                    run.status = "Completed"
                if job.is_pipeline:
                    job.run.write(f"{_now()} node {node} {run.status}\n", EXECUTION_LOG)
        with self._lock:
            if job.run.status in ("CancelRequested", "Canceled"):
                final = "Canceled"
            else:
                final = "Failed" if failed else "Completed"
            job.run.ended = _now()
            job.run.status = final
            job.props["status"] = final
            if final == "Failed" and job.is_pipeline:
                job.run.error = {
                    "code": "UserError",
                    "message": "Pipeline has some failed steps. Failed nodes: " + ", ".join(f"/{n}" for n in failed),
                }

    def _run_process(self, command: str, env: dict[str, str], run: Run) -> int:
        # The compute has none of this machine's Azure settings (connection strings, AZURE_* credentials).
        local = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "AZUREML_"))}
        merged = {**local, **self.exec_env, **env}
        merged["PATH"] = f"{REPO / '.venv/bin'}{os.pathsep}{merged.get('PATH', '')}"
        here = str(Path(__file__).parent)
        merged["PYTHONPATH"] = os.pathsep.join(p for p in (here, str(REPO), merged.get("PYTHONPATH")) if p)
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            env=merged,
            cwd=self.job_cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._lock:
                run.logs.setdefault(USER_LOG, bytearray()).extend(line)
        code = proc.wait()
        self.executions.append({"run": run.run_id, "command": command, "env": env, "code": code})
        return code

    def _ensure_children(self, job: Job) -> dict[str, Run]:
        for node, body in (job.props.get("jobs") or {}).items():
            if node not in job.children:
                run = Run(
                    run_id=f"{job.name}_{node}_{uuid.uuid4().hex[:6]}",
                    parent=job.name,
                    node=node,
                    display=body.get("display_name") or node,
                    target=self._target(body),
                )
                job.children[node] = run
                self.runs[run.run_id] = run
        return job.children

    def _target(self, body: dict[str, Any]) -> str | None:
        compute = body.get("computeId") or body.get("compute") or ""
        return compute.rsplit("/", 1)[-1] or None

    # -- HTTP dispatch --------------------------------------------------------------------------
    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Any]]:
        ws = (
            r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices"
            r"/workspaces/[^/]+"
        )
        asset = r"(?P<kind>environments|components|codes|models|data)"
        table = [
            ("GET", ws + r"$", self._workspace),
            ("GET", ws + r"/computes/(?P<name>[^/]+)$", self._compute),
            ("GET", ws + r"/datastores$", self._datastores),
            ("GET", ws + r"/datastores/(?P<name>[^/]+)$", self._datastore),
            ("GET", ws + r"/jobs$", self._list_jobs),
            ("GET", ws + r"/jobs/(?P<name>[^/]+)$", self._get_job),
            ("PUT", ws + r"/jobs/(?P<name>[^/]+)$", self._put_job),
            ("POST", ws + r"/jobs/(?P<name>[^/]+)/cancel$", self._cancel),
            ("GET", r"/fake/operations/(?P<op>[^/]+)$", self._operation),
            ("GET", r"/fake/msi/token$", self._msi_token),
            ("PUT", ws + "/" + asset + r"/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$", self._put_asset),
            ("GET", ws + "/" + asset + r"/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$", self._get_asset),
            ("GET", r"/discovery/workspaces/(?P<guid>[^/]+)$", self._discovery),
            ("GET", r"/history/v1\.0" + ws + r"/runs/(?P<run>[^/]+)/details$", self._run_details),
            ("GET", r"/history/v1\.0" + ws + r"/runs/(?P<run>[^/]+)/children$", self._run_children),
            ("GET", r"/logs/(?P<run>[^/]+)/(?P<file>.+)$", self._log_file),
            *self.schedule_routes(ws),
        ]
        return [(m, re.compile("^" + p, re.I), fn) for m, p, fn in table]

    def handle(self, h: _Handler) -> None:
        split = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        rec = Recorded(h.command, split.path, query, body, {k.lower(): v for k, v in h.headers.items()})
        with self._lock:
            self.requests.append(rec)
            fault = next(
                (
                    f
                    for f in self.faults
                    if f.hits < f.times
                    and (f.method in (None, h.command))
                    and (f.path is None or re.search(f.path, split.path, re.I))
                ),
                None,
            )
            if fault is not None:
                fault.hits += 1
        result = None
        if fault is None or fault.after:
            result = self._route(h.command, split.path, query, body, h)
        if fault is not None:
            rec.status = fault.status or 0
            if fault.status is None:
                h.close_connection = True
                try:
                    h.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    h.close_connection = True
                return
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            code = {
                400: "UserError",
                401: "InvalidAuthenticationToken",
                403: "AuthorizationFailed",
                429: "TooManyRequests",
                503: "ServiceUnavailable",
            }.get(fault.status, "InjectedFault")
            h.send_json(fault.status, {"error": {"code": code, "message": "injected by FakeAzureML"}}, headers)
            return
        assert result is not None
        status, payload, headers = result
        rec.status = status
        if isinstance(payload, (bytes, str)):
            h.send_bytes(status, payload.encode() if isinstance(payload, str) else payload, headers)
        else:
            h.send_json(status, payload, headers)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any, h: _Handler) -> tuple:
        for m, rx, fn in self._routes:
            match = rx.match(path)
            if match and m == method:
                with self._lock:
                    return fn(match.groupdict(), query, body, h)
        self.unrouted.append(f"{method} {path}")
        return 404, {"error": {"code": "NoFakeRoute", "message": f"FakeAzureML has no route for {method} {path}"}}, {}

    @staticmethod
    def _not_found(what: str) -> tuple:
        return 404, {"error": {"code": "ResourceNotFound", "message": f"{what} was not found (fake)"}}, {}

    # -- ARM --------------------------------------------------------------------------------------
    def _workspace(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        return (
            200,
            {
                "id": self.ws_path,
                "name": self.workspace,
                "type": f"{RP}/workspaces",
                "location": "westeurope",
                "kind": "Default",
                "identity": {"type": "SystemAssigned"},
                "sku": {"name": "Basic", "tier": "Basic"},
                "properties": {
                    "workspaceId": self.workspace_guid,
                    "friendlyName": self.workspace,
                    "discoveryUrl": f"{self.base_url}/discovery/workspaces/{self.workspace_guid}",
                    "provisioningState": "Succeeded",
                },
            },
            {},
        )

    def _compute(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        if p["name"] not in self.computes:
            return self._not_found(f"compute {p['name']}")
        return (
            200,
            {
                "id": f"{self.ws_path}/computes/{p['name']}",
                "name": p["name"],
                "location": "westeurope",
                "type": f"{RP}/workspaces/computes",
                "properties": {
                    "computeType": "AmlCompute",
                    "provisioningState": "Succeeded",
                    "properties": {"vmSize": "STANDARD_DS3_V2"},
                },
            },
            {},
        )

    def _datastore_doc(self, name: str) -> dict[str, Any]:
        return {
            "id": f"{self.ws_path}/datastores/{name}",
            "name": name,
            "type": f"{RP}/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": AZURITE_ACCOUNT,
                "containerName": f"azureml-blobstore-{self.workspace_guid}",
                "endpoint": "core.windows.net",
                "protocol": "https",
                "isDefault": True,
                "credentials": {"credentialsType": "None"},
            },
        }

    def _datastores(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        return 200, {"value": [self._datastore_doc("workspaceblobstore")]}, {}

    def _datastore(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        return 200, self._datastore_doc(p["name"]), {}

    def _put_job(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        name = p["name"]
        props_in = (body or {}).get("properties") or {}
        if self.aml_audience and props_in.get("jobType") == "Pipeline" and h is not None:  # h None: fired
            audience = _audience(h.headers.get("x-azureml-token") or "")
            if audience != self.aml_audience.rstrip("/"):
                return (
                    401,
                    {
                        "error": {
                            "code": "InvalidAuthenticationToken",
                            "message": f"x-azureml-token is for {audience}, not this cloud (fake)",
                        }
                    },
                    {},
                )
        if name in self.jobs:  # an assumption: the real service's answer here is not documented
            return 409, {"error": {"code": "Conflict", "message": f"job {name} already exists (fake)"}}, {}
        props = dict((body or {}).get("properties") or {})
        props["status"] = "NotStarted"
        props.setdefault("experimentName", "Default")
        props["services"] = {"Studio": {"jobServiceType": "Studio", "endpoint": f"{self.base_url}/studio/runs/{name}"}}
        resource = {
            "id": f"{self.ws_path}/jobs/{name}",
            "name": name,
            "type": f"{RP}/workspaces/jobs",
            "properties": props,
            "systemData": {"createdAt": _now(), "createdBy": "tester"},
        }
        run = Run(run_id=name, display=props.get("displayName"), target=self._target(props))
        self.jobs[name] = Job(name, resource, run)
        self.runs[name] = run
        self.creates[name] = self.creates.get(name, 0) + 1
        return 201, resource, {}

    def _list_jobs(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        """Newest first; ``tag`` keeps jobs having that tag key; pages follow ``nextLink`` ($skip)."""
        jobs = list(reversed(self.jobs.values()))
        if q.get("tag"):
            jobs = [j for j in jobs if q["tag"] in (j.props.get("tags") or {})]
        jobs = self.scheduled_jobs(jobs, q)
        start = int(q.get("$skip") or 0)
        page = jobs[start : start + self.list_page_size]
        doc: dict[str, Any] = {"value": [j.resource for j in page]}
        if start + self.list_page_size < len(jobs):
            query = {k: v for k, v in q.items() if k != "$skip"}
            query["$skip"] = str(start + self.list_page_size)
            doc["nextLink"] = f"{self.base_url}{self.ws_path}/jobs?" + urlencode(query)
        return 200, doc, {}

    def _get_job(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        job = self.jobs.get(p["name"])
        return (200, job.resource, {}) if job else self._not_found(f"job {p['name']}")

    def _cancel(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        job = self.jobs.get(p["name"])
        if job is None:
            return self._not_found(f"job {p['name']}")
        if job.run.status not in ENDED:
            self.set_state(job.name, "CancelRequested")
        op = uuid.uuid4().hex
        return 202, None, {"Location": f"{self.base_url}/fake/operations/{op}", "Retry-After": "0"}

    # -- the platform identity of the compute (what Azure ML gives every job) --------------------
    def platform_env(self) -> dict[str, str]:
        """What Azure ML compute puts in every job's environment: its managed identity endpoint
        (``MSI_ENDPOINT`` + ``MSI_SECRET``, read by azure-identity's ``DefaultAzureCredential``),
        and a trust store that knows the fake's CA (a real image trusts the public CAs)."""
        return {
            "MSI_ENDPOINT": f"{self.base_url}/fake/msi/token",
            "MSI_SECRET": self.msi_secret,
            "REQUESTS_CA_BUNDLE": self.ca_file,
        }

    def _msi_token(self, p: dict, q: dict, body: Any, h: _Handler) -> tuple:
        if h.headers.get("secret") != self.msi_secret:
            return 401, {"error": "invalid_request", "error_description": "bad MSI secret (fake)"}, {}
        resource = q.get("resource", "").removesuffix("/.default")
        self.msi_tokens.append(resource)
        now = int(dt.datetime.now(dt.timezone.utc).timestamp())
        claims = {
            "aud": resource,
            "iss": "https://sts.windows.net/fake-tenant/",
            "tid": "fake-tenant",
            "oid": "compute-identity",
            "iat": now,
            "nbf": now - 60,
            "exp": now + 3600,
        }
        token = ".".join(_b64(json.dumps(part).encode()) for part in ({"alg": "none", "typ": "JWT"}, claims))
        return (
            200,
            {
                "access_token": token + "." + _b64(b"unsigned"),
                "expires_on": str(now + 3600),
                "resource": resource,
                "token_type": "Bearer",
            },
            {},
        )

    def _operation(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        return 200, {"status": "Succeeded"}, {}

    def _put_asset(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        key = f"{p['kind']}/{p['name']}/versions/{p['version']}".lower()
        doc = {
            "id": f"{self.ws_path}/{p['kind']}/{p['name']}/versions/{p['version']}",
            "name": p["version"],
            "type": f"{RP}/workspaces/{p['kind']}/versions",
            "properties": dict((body or {}).get("properties") or {}),
        }
        doc["properties"].setdefault("provisioningState", "Succeeded")
        created = key not in self.assets
        self.assets[key] = doc
        return (201 if created else 200), doc, {}

    def _get_asset(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        doc = self.assets.get(f"{p['kind']}/{p['name']}/versions/{p['version']}".lower())
        return (200, doc, {}) if doc else self._not_found(f"{p['kind']} {p['name']}")

    # -- discovery and run history ------------------------------------------------------------
    def _discovery(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        urls = {k: self.base_url for k in ("api", "catalog", "experimentation", "history", "pipelines")}
        return 200, urls, {}

    def _run_doc(self, run: Run, details: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "runId": run.run_id,
            "status": run.status,
            "displayName": run.display or run.run_id,
            "name": run.node,
            "target": run.target,
            "parentRunId": run.parent,
            "createdUtc": run.created,
            "startTimeUtc": run.started,
            "endTimeUtc": run.ended,
            "tags": {},
            "properties": {},
        }
        if run.error and run.status == "Failed":
            doc["error"] = {"error": dict(run.error), "time": _now()}
        if details:
            doc["logFiles"] = {f: f"{self.base_url}/logs/{run.run_id}/{f}?sv=2021-08-06&sig=fake" for f in run.logs}
        return doc

    def _run_details(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        run = self.runs.get(unquote(p["run"]))
        if run is None:
            return self._not_found(f"run {p['run']}")
        return 200, self._run_doc(run, details=True), {}

    def _run_children(self, p: dict, q: dict, body: Any, h: Any) -> tuple:
        job = self.jobs.get(unquote(p["run"]))
        if job is None:
            return self._not_found(f"run {p['run']}")
        runs = [self._run_doc(r) for r in job.children.values()]
        start = int(q.get("$continuationtoken") or 0)
        page = runs[start : start + 2]  # small pages: the client must follow continuation tokens
        token = str(start + 2) if start + 2 < len(runs) else None
        return 200, {"value": page, "continuationToken": token}, {}

    def _log_file(self, p: dict, q: dict, body: Any, h: _Handler) -> tuple:
        run = self.runs.get(p["run"])
        data = bytes(run.logs.get(p["file"], b"")) if run else None
        if data is None or run is None or p["file"] not in run.logs:
            return 404, {"error": {"code": "BlobNotFound", "message": "no such log (fake)"}}, {}
        spec = h.headers.get("x-ms-range") or h.headers.get("Range")
        if not spec:
            return 200, data, {"Content-Type": "text/plain"}
        start = int(re.match(r"bytes=(\d+)-", spec).group(1))  # type: ignore[union-attr]
        if start >= len(data):
            return 416, {"error": {"code": "InvalidRange", "message": "range not satisfiable"}}, {}
        return (
            206,
            data[start:],
            {"Content-Type": "text/plain", "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"},
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _dispatch(self) -> None:
        self.server.fake.handle(self)  # type: ignore[attr-defined]

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _dispatch

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_bytes(status, data, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

    def send_bytes(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        """Quiet."""
