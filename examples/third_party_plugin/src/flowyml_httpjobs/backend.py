"""The httpjobs backend (the entry point): each execution unit is one job on the server, wired with ``after``."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import attrs

from flowyml.core.errors import AuthError, FlowymlError, RunNotFoundError
from flowyml.core.status import ExecutionStatus as S
from flowyml.plugins import Backend, JobSpec, LogRecord, RunHandle, StatusReport, hookimpl
from flowyml.plugins.cursors import decode_cursor, encode_cursor
from flowyml.plugins.logs import parse_runner_line, record_of
from flowyml.plugins.retry import call_with_retry
from flowyml.plugins.runstate import aggregate

RUN_LABEL = "flowyml-run-id"  # every job carries it: status, logs and cancel find a run's jobs by it
NATIVE_STATES = {"QUEUED": S.QUEUED, "RUNNING": S.RUNNING, "CANCELLING": S.STOPPING, "SUCCEEDED": S.COMPLETED}
NATIVE_STATES |= {"FAILED": S.FAILED, "CANCELLED": S.CANCELLED, "TIMED_OUT": S.TIMED_OUT}


@attrs.define(frozen=True)
class HttpJobsConfig:
    """A stack's ``orchestrator:`` section. ``token`` is secret: never stored; re-attach reads ``$HTTPJOBS_TOKEN``."""

    url: str = attrs.field(default="http://127.0.0.1:8787", validator=attrs.validators.matches_re(r"https?://.+"))
    token: str | None = attrs.field(factory=lambda: os.getenv("HTTPJOBS_TOKEN"), repr=False, metadata={"secret": True})
    request_timeout: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    log_poll_interval: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))


def job_name(run_id: str, unit: str) -> str:
    """Derived from the run id alone, so a retried submit finds what a lost attempt created."""
    text = f"fy-{run_id}-{unit}"
    safe, digest = re.sub(r"[^\w.-]", "-", text, flags=re.ASCII), hashlib.sha256(text.encode()).hexdigest()[:8]
    return text if safe == text and len(text) <= 120 else f"{safe[:100]}-{digest}"


class HttpError(Exception):
    def __init__(self, status: int, doc: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {doc.get('error', '')}")
        self.status = status


def _transient(exc: BaseException) -> bool:
    return exc.status in (429, 500, 502, 503, 504) if isinstance(exc, HttpError) else isinstance(exc, OSError)


def request(config: HttpJobsConfig, method: str, path: str, body: Any = None) -> Any:
    """One API request, one attempt (urllib loads on first use: registering the plugin stays cheap)."""
    import urllib.error
    import urllib.request

    headers = {
        "Content-Type": "application/json",
        **({"Authorization": f"Bearer {config.token}"} if config.token else {}),
    }
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(config.url.rstrip("/") + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=config.request_timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise HttpError(exc.code, json.loads(exc.read() or b"{}")) from None


def call(config: HttpJobsConfig, method: str, path: str, body: Any = None, exists: str | None = None) -> Any:
    """``request`` retried by core while the error is transient; a retried create first checks ``exists``."""
    attempts = []

    def attempt() -> Any:
        attempts.append(1)
        if exists and len(attempts) > 1 and call(config, "GET", f"/jobs?label=name={quote(exists)}")["jobs"]:
            return None  # an earlier attempt created it and only its answer was lost
        return request(config, method, path, body)

    return call_with_retry(attempt, transient=_transient, what=f"httpjobs {method} {path}")


class HttpJobsBackend(Backend):
    name = "httpjobs"
    config_class = HttpJobsConfig
    description = "Runs each execution unit as a job on an httpjobs server (a worked third-party plugin)."
    capabilities = frozenset({"dag", "cancel", "logs", "details"})
    native_states = NATIVE_STATES

    def submit(self, spec: JobSpec, config: HttpJobsConfig) -> RunHandle:
        units = {u.name: job_name(spec.run_id, u.name) for u in spec.units}
        made = {j["name"] for j in call(config, "GET", f"/jobs?label={RUN_LABEL}={quote(spec.run_id)}")["jobs"]}
        for unit in (u for u in spec.units if units[u.name] not in made):  # dependencies first
            name, after = units[unit.name], [units[d] for d in unit.depends_on]
            body = {"name": name, "argv": spec.unit_command(unit.name), "env": spec.unit_env(unit.name), "after": after}
            labels = {**spec.labels, RUN_LABEL: spec.run_id, "name": name}
            call(config, "POST", "/jobs", {**body, "labels": labels, "timeout": spec.timeout_seconds}, exists=name)
        return RunHandle(self.name, spec.run_id, f"fy-{spec.run_id}", units, {"server": config.url})

    def jobs(self, handle: RunHandle, config: HttpJobsConfig) -> dict[str, dict[str, Any]]:
        found = {j["name"]: j for j in call(config, "GET", f"/jobs?label={RUN_LABEL}={quote(handle.run_id)}")["jobs"]}
        if not found:
            raise RunNotFoundError(f"the httpjobs server at {config.url} has no jobs for run {handle.run_id!r}")
        return {unit: found[name] for unit, name in handle.units.items() if name in found}

    def status(self, handle: RunHandle, config: HttpJobsConfig) -> StatusReport:
        jobs = self.jobs(handle, config)
        units = {u: NATIVE_STATES.get(j["state"], S.UNKNOWN) for u, j in jobs.items()}
        failed = [j for j in jobs.values() if j["state"] in ("FAILED", "TIMED_OUT")]
        message = f"job {failed[0]['name']}: {failed[0]['message']}" if failed else None
        return StatusReport(aggregate(units.values()), ",".join(j["state"] for j in jobs.values()), message, units)

    def cancel(self, handle: RunHandle, config: HttpJobsConfig, graceful: bool) -> bool:
        live = [j["name"] for j in self.jobs(handle, config).values() if not NATIVE_STATES[j["state"]].is_finished]
        for name in reversed(live):  # dependants first, so none starts meanwhile
            call(config, "POST", f"/jobs/{quote(name)}/cancel", {"graceful": graceful})
        return bool(live)

    def logs(self, handle: RunHandle, config: HttpJobsConfig, cursor: str | None) -> Iterator[LogRecord]:
        offsets = decode_cursor(cursor, self.name)
        for unit, name in handle.units.items():
            more = True
            while more:
                page = call(config, "GET", f"/jobs/{quote(name)}/logs?offset={offsets.get(unit, 0)}")
                for entry in page["entries"]:
                    offsets[unit] = entry["next"]
                    severity = "ERROR" if entry["stream"] == "stderr" else "INFO"
                    yield record_of(
                        parse_runner_line(entry["line"], entry["t"], severity), unit, encode_cursor(offsets)
                    )
                more = page["more"]

    def details(self, handle: RunHandle, config: HttpJobsConfig) -> dict[str, Any]:
        return {"run_id": handle.run_id, "job_id": handle.job_id, "jobs": self.jobs(handle, config)}

    def translate_error(self, exc: BaseException, operation: str) -> FlowymlError | None:
        if isinstance(exc, HttpError) and exc.status in (401, 403):
            return AuthError("the httpjobs server refused our token: set `token: ${HTTPJOBS_TOKEN}` or $HTTPJOBS_TOKEN")
        return None


@hookimpl
def flowyml_register_backends(register: Any) -> None:
    register(HttpJobsBackend())
