"""A tiny HTTP job-queue server: each job is an argv + env, run as a local subprocess.

It stands in for the remote service a real plugin would talk to (a batch scheduler, a cloud
API), so the plugin in this package has something real to submit to. Start it with::

    flowyml-httpjobs-server --port 8787 --token "$HTTPJOBS_TOKEN"

The API (JSON bodies; ``Authorization: Bearer <token>`` when the server has a token):

=======  ===========================  ==================================================================
POST     ``/jobs``                    create ``{"name", "argv", "env", "labels", "after", "timeout"}``:
                                      201 the job, 409 if the name exists, 400 if invalid
GET      ``/jobs?label=KEY=VALUE``    ``{"jobs": [...]}``, all jobs carrying that label
GET      ``/jobs/NAME``               the job, or 404
POST     ``/jobs/NAME/cancel``        ``{"graceful": true}``: ``{"cancel_requested": bool, "job": ...}``
GET      ``/jobs/NAME/logs?offset=N`` ``{"entries": [{"t", "stream", "line", "next"}], "next_offset", "more"}``
GET      ``/healthz``                 ``{"ok": true}``
=======  ===========================  ==================================================================

Job states: QUEUED, RUNNING, CANCELLING, SUCCEEDED, FAILED, CANCELLED, TIMED_OUT. A job waits in
QUEUED until every job named in ``after`` has SUCCEEDED; if one of them ends otherwise the job is
CANCELLED. Jobs live in memory (a restart forgets them); a job's env is write-only (never returned).

Test knobs (used by the plugin's conformance tests, not reachable over HTTP): :meth:`JobServer.faults`
makes the next N requests of an operation answer 503, :meth:`JobServer.force_state` pins a job in a
state, :meth:`JobServer.count_creates` counts create requests per label.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlparse

log = logging.getLogger("httpjobs.server")

STATES = ("QUEUED", "RUNNING", "CANCELLING", "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT")
FINISHED = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"})
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: operation name (as the conformance kit says it) for each route
OPERATIONS = ("submit", "status", "cancel", "logs")
TICK = 0.02
LOG_PAGE = 1000


class ApiError(Exception):
    """An error answer: HTTP status and message."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


class Job:
    """One job: what to run, where it is in its life, and its log file."""

    def __init__(self, name: str, body: Mapping[str, Any], log_path: Path) -> None:
        self.name = name
        self.argv: list[str] = list(body["argv"])
        self.env: dict[str, str] = dict(body.get("env") or {})
        self.labels: dict[str, str] = dict(body.get("labels") or {})
        self.after: list[str] = list(body.get("after") or [])
        self.timeout: float | None = body.get("timeout")
        self.state = "QUEUED"
        self.message: str | None = None
        self.exit_code: int | None = None
        self.created_at = time.time()
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.log_path = log_path
        self.log_lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.pumps: list[threading.Thread] = []
        self.sink: IO[str] | None = None
        self.cancel_mode: str | None = None  # "graceful" | "force"
        self.cancel_at: float | None = None
        self.timed_out = False
        self.pinned = False

    def public(self) -> dict[str, Any]:
        """The job as the API shows it (never its env)."""
        return {
            "name": self.name,
            "argv": self.argv,
            "labels": self.labels,
            "after": self.after,
            "timeout": self.timeout,
            "state": self.state,
            "message": self.message,
            "exit_code": self.exit_code,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }

    def finish(self, state: str, message: str | None = None) -> None:
        self.state, self.finished_at = state, time.time()
        if message is not None:
            self.message = message


def _validate(body: Any) -> None:
    if not isinstance(body, dict):
        raise ApiError(400, "expected a JSON object")
    name = body.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ApiError(400, f"invalid job name {name!r}: letters, digits, '.', '_', '-', at most 128")
    argv = body.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise ApiError(400, "argv must be a non-empty list of strings")
    for key in ("env", "labels"):
        value = body.get(key) or {}
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ApiError(400, f"{key} must map strings to strings")
    after = body.get("after") or []
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        raise ApiError(400, "after must be a list of job names")
    timeout = body.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ApiError(400, "timeout must be a positive number of seconds or null")


class _Pump(threading.Thread):
    """Copies one stream of a job's process into its JSON-lines log."""

    def __init__(self, job: Job, stream: IO[bytes], name: str) -> None:
        super().__init__(daemon=True, name=f"httpjobs-{job.name}-{name}")
        self.job, self.stream, self.stream_name = job, stream, name

    def run(self) -> None:
        for raw in iter(self.stream.readline, b""):
            entry = {"t": time.time(), "stream": self.stream_name, "line": raw.decode(errors="replace").rstrip("\n")}
            with self.job.log_lock:
                assert self.job.sink is not None
                self.job.sink.write(json.dumps(entry) + "\n")
                self.job.sink.flush()


class JobServer:
    """The queue, the scheduler thread that runs jobs, and the HTTP front end."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8787,
        *,
        token: str | None = None,
        workers: int = 4,
        data_dir: str | os.PathLike[str] | None = None,
        base_env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        grace_period: float = 5.0,
    ) -> None:
        self.token = token
        self.workers = workers
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="httpjobs-"))
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.cwd = cwd
        self.grace_period = grace_period
        self.jobs: dict[str, Job] = {}
        self.lock = threading.RLock()
        self._faults: dict[str, list[Any]] = {}
        self._creates: list[dict[str, str]] = []
        self._stop = threading.Event()
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.app = self  # type: ignore[attr-defined]
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> JobServer:
        """Serve and schedule in background threads; returns at once."""
        for target, name in ((self.httpd.serve_forever, "httpjobs-http"), (self._schedule, "httpjobs-scheduler")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("httpjobs server listening on %s (data in %s)", self.url, self.data_dir)
        return self

    def stop(self) -> None:
        """Stop serving and kill every job still running."""
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.lock:
            for job in self.jobs.values():
                if job.proc is not None and job.proc.poll() is None:
                    _killpg(job.proc.pid, signal.SIGKILL)
                    job.proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> JobServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test knobs ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def faults(
        self,
        operation: str,
        count: int,
        *,
        status: int = 503,
        retry_after: float | None = 0,
        lost_response: bool = False,
    ) -> Iterator[None]:
        """The next ``count`` requests of ``operation`` answer ``status`` while the block runs.

        With ``lost_response`` the request is carried out and only its answer is replaced by the
        error — what a client sees when a response is lost on the way back.
        """
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; expected one of {OPERATIONS}")
        with self.lock:
            self._faults[operation] = [count, status, retry_after, lost_response]
        try:
            yield
        finally:
            with self.lock:
                self._faults.pop(operation, None)

    def force_state(self, name: str, state: str, message: str | None = None) -> None:
        """Pin job ``name`` in ``state`` (its process, if any, is killed); the scheduler leaves it there."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; expected one of {STATES}")
        with self.lock:
            job = self.jobs[name]
            job.pinned = True
            if job.proc is not None and job.proc.poll() is None:
                _killpg(job.proc.pid, signal.SIGKILL)
                job.proc.wait()
                for pump in job.pumps:
                    pump.join(timeout=2)
                if job.sink is not None:
                    job.sink.close()
            job.state, job.message = state, message
            job.finished_at = time.time() if state in FINISHED else None

    def count_creates(self, label: str, value: str) -> int:
        """How many create requests carried ``labels[label] == value`` (whatever their answer)."""
        with self.lock:
            return sum(1 for labels in self._creates if labels.get(label) == value)

    # -- scheduling ------------------------------------------------------------------------------
    def _schedule(self) -> None:
        while not self._stop.is_set():
            with self.lock:
                self._tick()
            time.sleep(TICK)

    def _tick(self) -> None:
        for job in self.jobs.values():
            if job.state in ("RUNNING", "CANCELLING") and not job.pinned:
                self._watch(job)
        running = sum(1 for j in self.jobs.values() if j.state in ("RUNNING", "CANCELLING"))
        for job in sorted(self.jobs.values(), key=lambda j: j.created_at):
            if job.state != "QUEUED" or job.pinned:
                continue
            deps = [self.jobs[a] for a in job.after]
            broken = [d for d in deps if d.state in FINISHED and d.state != "SUCCEEDED"]
            if broken:
                job.finish("CANCELLED", f"dependency {broken[0].name} ended {broken[0].state}")
            elif all(d.state == "SUCCEEDED" for d in deps) and running < self.workers:
                self._start(job)
                running += 1

    def _start(self, job: Job) -> None:
        job.started_at = time.time()
        job.sink = open(job.log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed when the job ends
        try:
            job.proc = subprocess.Popen(
                job.argv,
                env={**self.base_env, **job.env},
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            job.sink.close()
            job.finish("FAILED", f"cannot start {job.argv[0]!r}: {exc}")
            return
        job.pumps = [_Pump(job, job.proc.stdout, "stdout"), _Pump(job, job.proc.stderr, "stderr")]  # type: ignore[arg-type]
        for pump in job.pumps:
            pump.start()
        job.state = "RUNNING"

    def _watch(self, job: Job) -> None:
        assert job.proc is not None
        code = job.proc.poll()
        now = time.time()
        if code is None:
            if job.timeout is not None and job.started_at and now - job.started_at > job.timeout and not job.timed_out:
                job.timed_out = True
                _killpg(job.proc.pid, signal.SIGKILL)
            elif job.cancel_at is not None and now - job.cancel_at > self.grace_period:
                _killpg(job.proc.pid, signal.SIGKILL)
            return
        for pump in job.pumps:
            pump.join(timeout=2)
        if job.sink is not None:
            job.sink.close()
        job.exit_code = code
        if job.timed_out:
            job.finish("TIMED_OUT", f"killed after its timeout of {job.timeout}s")
        elif job.cancel_mode is not None:
            job.finish("CANCELLED", "cancelled on request")
        elif code == 0:
            job.finish("SUCCEEDED")
        else:
            job.finish("FAILED", f"exit code {code}")

    # -- operations ------------------------------------------------------------------------------
    def create(self, body: Any) -> tuple[int, dict[str, Any]]:
        if isinstance(body, dict):
            self._creates.append(dict(body.get("labels") or {}))
        _validate(body)
        name = body["name"]
        if name in self.jobs:
            raise ApiError(409, f"job {name!r} already exists", job=self.jobs[name].public())
        missing = [a for a in body.get("after") or [] if a not in self.jobs]
        if missing:
            raise ApiError(400, f"unknown jobs in after: {', '.join(missing)}")
        job = Job(name, body, self.data_dir / "logs" / f"{name}.jsonl")
        job.log_path.touch()
        self.jobs[name] = job
        return 201, job.public()

    def job(self, name: str) -> Job:
        try:
            return self.jobs[name]
        except KeyError:
            raise ApiError(404, f"no job {name!r}") from None

    def list_jobs(self, query: Mapping[str, list[str]]) -> dict[str, Any]:
        wanted = []
        for item in query.get("label", []):
            key, sep, value = item.partition("=")
            if not sep:
                raise ApiError(400, f"label filter {item!r}: expected KEY=VALUE")
            wanted.append((key, value))
        jobs = [j.public() for j in self.jobs.values() if all(j.labels.get(k) == v for k, v in wanted)]
        return {"jobs": jobs}

    def cancel(self, name: str, body: Any) -> dict[str, Any]:
        job = self.job(name)
        graceful = bool((body or {}).get("graceful", True))
        if job.state in FINISHED:
            return {"cancel_requested": False, "job": job.public()}
        if job.state == "QUEUED" or job.pinned:
            job.finish("CANCELLED", "cancelled on request")
            return {"cancel_requested": True, "job": job.public()}
        assert job.proc is not None
        if job.cancel_mode is None or not graceful:
            job.cancel_mode = "graceful" if graceful else "force"
            job.cancel_at = job.cancel_at or time.time()
            job.state = "CANCELLING"
            _killpg(job.proc.pid, signal.SIGTERM if graceful else signal.SIGKILL)
        return {"cancel_requested": True, "job": job.public()}

    def logs(self, name: str, query: Mapping[str, list[str]]) -> dict[str, Any]:
        job = self.job(name)
        try:
            offset = int(query.get("offset", ["0"])[0])
        except ValueError:
            raise ApiError(400, "offset must be an integer") from None
        with job.log_lock, open(job.log_path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
        entries: list[dict[str, Any]] = []
        pos = offset
        for raw in chunk.splitlines(keepends=True):
            if not raw.endswith(b"\n") or len(entries) >= LOG_PAGE:
                break
            pos += len(raw)
            entries.append({**json.loads(raw), "next": pos})
        more = pos < offset + len(chunk)
        return {"entries": entries, "next_offset": pos, "more": more, "state": job.state}

    # -- HTTP ------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, dict, dict]:
        """One request -> (status, JSON answer, extra headers)."""
        if self.token and headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"error": "missing or wrong bearer token"}, {}
        url = urlparse(path)
        query = parse_qs(url.query)
        parts = [p for p in url.path.split("/") if p]
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            return 400, {"error": "the body is not JSON"}, {}
        route = self._route(method, parts)
        if route is None:
            return 404, {"error": f"no route {method} {url.path}"}, {}
        operation, call = route
        with self.lock:
            fault = self._take_fault(operation)
            if fault is not None and not fault[3]:
                return self._fault_answer(fault)
            try:
                status, answer = call(doc, query)
            except ApiError as exc:
                status, answer = exc.status, {"error": exc.message, **exc.extra}
        if fault is not None:
            return self._fault_answer(fault)
        return status, answer, {}

    def _route(self, method: str, parts: list[str]) -> tuple[str | None, Any] | None:
        if method == "GET" and parts == ["healthz"]:
            return None, lambda doc, q: (200, {"ok": True})
        if parts[:1] != ["jobs"]:
            return None
        if method == "POST" and len(parts) == 1:
            return "submit", lambda doc, q: self.create(doc)
        if method == "GET" and len(parts) == 1:
            return "status", lambda doc, q: (200, self.list_jobs(q))
        if method == "GET" and len(parts) == 2:
            return "status", lambda doc, q: (200, self.job(parts[1]).public())
        if method == "POST" and len(parts) == 3 and parts[2] == "cancel":
            return "cancel", lambda doc, q: (200, self.cancel(parts[1], doc))
        if method == "GET" and len(parts) == 3 and parts[2] == "logs":
            return "logs", lambda doc, q: (200, self.logs(parts[1], q))
        return None

    def _take_fault(self, operation: str | None) -> list[Any] | None:
        fault = self._faults.get(operation or "")
        if fault is None or fault[0] <= 0:
            return None
        fault[0] -= 1
        return fault

    @staticmethod
    def _fault_answer(fault: list[Any]) -> tuple[int, dict, dict]:
        headers = {} if fault[2] is None else {"Retry-After": str(fault[2])}
        return fault[1], {"error": "injected fault: service unavailable"}, headers


class _Handler(BaseHTTPRequestHandler):
    server_version = "httpjobs/0.1"

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        app: JobServer = self.server.app  # type: ignore[attr-defined]
        status, doc, headers = app.handle(method, self.path, dict(self.headers), body)
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


def _killpg(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flowyml-httpjobs-server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--token", default=os.environ.get("HTTPJOBS_TOKEN"), help="default: $HTTPJOBS_TOKEN")
    parser.add_argument("--workers", type=int, default=4, help="jobs running at once")
    parser.add_argument("--data-dir", help="where job logs are kept (default: a new temp dir)")
    parser.add_argument("--grace-period", type=float, default=5.0, help="seconds between SIGTERM and SIGKILL")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = JobServer(
        args.host,
        args.port,
        token=args.token,
        workers=args.workers,
        data_dir=args.data_dir,
        grace_period=args.grace_period,
    ).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        log.info("interrupted")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
