"""The ``ray`` backend's operations on the Jobs API: submit, status, cancel, details."""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import re
import shlex
import signal
import socket
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlparse

from flowyml.artifacts.store import ArtifactStore
from flowyml.core.errors import ConfigError, RunIdConflictError
from flowyml.core.status import ExecutionStatus as S
from flowyml.plugins.types import STORE_SETTINGS_ENV, JobSpec, RunHandle, StatusReport, store_settings_env
from flowyml_ray import progress
from flowyml_ray.client import already_exists, call, client_for, http_status, job_info, list_job_infos
from flowyml_ray.config import RayConfig
from flowyml_ray.states import job_native_state, run_status, unit_statuses

BACKEND = "ray"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_TERMINAL = {"STOPPED", "SUCCEEDED", "FAILED"}


def submission_id(run_id: str, prefix: str = "flowyml") -> str:
    """The Ray submission id of a run: ``<prefix>-<run id>``, hashed when the id has unsafe characters."""
    safe = _UNSAFE.sub("-", run_id)
    sid = f"{prefix}-{safe}" if prefix else safe
    if safe != run_id or len(sid) > 100:
        sid = f"{sid[:80]}-{hashlib.sha256(run_id.encode()).hexdigest()[:12]}"
    return sid


def _is_this_machine(host: str | None) -> bool:
    if not host or host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.split(".")[0] == socket.gethostname().split(".")[0]


def runs_elsewhere(config: RayConfig) -> bool:
    """True when the cluster's Jobs API is not on this machine: its nodes cannot read this machine's files."""
    return not _is_this_machine(urlparse(config.jobs_address()).hostname)


def check_store(artifact_root: str, config: RayConfig, store_settings: Mapping[str, Any] | None = None) -> None:
    """A ``file://`` store works only where every node sees the path: a cluster on this machine, or a
    mount the stack says is shared (``artifact_store.settings.shared: "true"``, as for every backend).

    Core checks this before anything is written (``RayBackend.needs_remote_store_for``); submit checks
    again for a spec that did not come through ``run_pipeline``."""
    if "://" in artifact_root and not artifact_root.startswith("file://"):
        return
    if str((store_settings or {}).get("shared", "")).lower() in ("true", "1", "yes"):
        return
    address = config.jobs_address()
    if not runs_elsewhere(config):
        return
    path = unquote(urlparse(artifact_root).path) if artifact_root.startswith("file://") else artifact_root
    raise ConfigError(
        f"ray: the artifact store {artifact_root} is a local path, but the Ray cluster at {address} runs on other "
        "machines, whose nodes cannot read it. Use an s3://, gs:// or abfs:// artifact store, or, if "
        f'{path} is on a filesystem every node mounts, add `settings: {{shared: "true"}}` to the artifact_store'
    )


def _entrypoint(spec: JobSpec, config: RayConfig) -> str:
    settings = {
        "scheduling_strategy": config.scheduling_strategy,
        "task_retries": config.task_retries,
        "accelerator_resources": dict(config.accelerator_resources),
    }
    return (
        f"{config.python} -m flowyml_ray.driver --job {shlex.quote(spec.spec_uri)} "
        f"--settings {shlex.quote(json.dumps(settings, sort_keys=True, separators=(',', ':')))}"
    )


def runtime_env(spec: JobSpec, config: RayConfig) -> dict[str, Any]:
    """The stack's ``runtime_env`` plus what the driver needs to open the artifact store."""
    env = copy.deepcopy(dict(config.runtime_env))
    if spec.store_settings:
        variables = dict(env.get("env_vars") or {})
        variables[STORE_SETTINGS_ENV] = store_settings_env(spec.store_settings)
        env["env_vars"] = variables
    return env


def _handle(spec: JobSpec, config: RayConfig, sid: str) -> RunHandle:
    return RunHandle(
        backend=BACKEND,
        run_id=spec.run_id,
        job_id=sid,
        units={u.name: f"{sid}/{u.name}" for u in spec.units},
        metadata={"address": config.jobs_address(), "dashboard_url": job_url(config, sid)},
        artifact_root=spec.artifact_root,
        pipeline_name=spec.pipeline_name,
    )


def job_url(config: RayConfig, sid: str) -> str | None:
    dashboard = config.dashboard()
    return f"{dashboard}/#/jobs/{sid}" if dashboard else None


def find_job(client: Any, sid: str) -> Any | None:
    """The job's details, or None when the cluster has no job with this submission id."""
    try:
        return call(lambda: client.get_job_info(sid), f"get Ray job {sid}")
    except RuntimeError as exc:
        if http_status(exc) == 404:
            return None
        raise


def spec_uri_of(entrypoint: str | None) -> str | None:
    """The job spec URI a flowyml driver's entrypoint names (``--job <uri>``), or None for any other job."""
    try:
        words = shlex.split(entrypoint or "")
    except ValueError:
        return None
    if "flowyml_ray.driver" not in words or "--job" not in words[:-1]:
        return None
    return words[words.index("--job") + 1]


def _existing(client: Any, spec: JobSpec, config: RayConfig, sid: str) -> Any | None:
    """The Ray job an earlier submit of ``spec`` made, None when there is none; a job under the same
    submission id that runs another job spec (the run id reused with another artifact store, or by
    another tool) is a :class:`RunIdConflictError`: it is never taken for this run."""
    info = find_job(client, sid)
    if info is None:
        return None
    found = spec_uri_of(getattr(info, "entrypoint", None))
    if found != spec.spec_uri:
        what = f"the job spec {found}" if found else f"{getattr(info, 'entrypoint', None)!r}"
        raise RunIdConflictError(
            spec.run_id,
            f"the Ray cluster at {config.jobs_address()} already has the job {sid}, which runs {what} "
            f"(this run's is {spec.spec_uri})",
        )
    return info


def find(spec: JobSpec, config: RayConfig) -> RunHandle | None:
    """The handle of the Ray job an earlier submit of ``spec`` created, or None (creates nothing)."""
    config.validate()
    sid = submission_id(spec.run_id, config.submission_id_prefix)
    try:
        info = _existing(client_for(config), spec, config, sid)
    except RunIdConflictError:
        return None  # that job is not this run's: this run was never submitted
    return None if info is None else _handle(spec, config, sid)


def submit(spec: JobSpec, config: RayConfig) -> RunHandle:
    """Submit the run's one Ray Job (idempotent: the submission id comes from the run id)."""
    config.validate()
    check_store(spec.artifact_root, config, spec.resolved_store_settings())
    sid = submission_id(spec.run_id, config.submission_id_prefix)
    client = client_for(config)
    if _existing(client, spec, config, sid) is None:
        metadata = {**config.metadata, "flowyml_run_id": spec.run_id, "flowyml_pipeline": spec.pipeline_name}
        try:
            call(
                lambda: client.submit_job(
                    entrypoint=_entrypoint(spec, config),
                    submission_id=sid,
                    runtime_env=runtime_env(spec, config),
                    metadata=metadata,
                ),
                f"submit Ray job {sid}",
            )
        except RuntimeError as exc:
            if not already_exists(exc):
                raise
            _existing(client, spec, config, sid)  # a lost answer or a racing submit made it: ours, if it runs our spec
    return _handle(spec, config, sid)


# -- status ------------------------------------------------------------------------------------
def _store(handle: RunHandle) -> ArtifactStore:
    return ArtifactStore(handle.artifact_root, handle.metadata.get("store_settings") or {})


def _state(info: Any) -> str:
    status = info.status
    return str(getattr(status, "value", status))


def _failure(doc: Mapping[str, Any], info: Any) -> str | None:
    for unit, entry in (doc.get("units") or {}).items():
        if entry.get("state") in ("FAILED", "TIMED_OUT") and entry.get("error"):
            return f"unit {unit!r}: {entry['error']}"
    if doc.get("error"):
        return str(doc["error"])
    unfinished = [u for u, e in (doc.get("units") or {}).items() if e.get("state") in ("PENDING", "RUNNING")]
    return driver_failure(info.message or "", info.driver_exit_code, unfinished)


def killed_by(exit_code: int | None) -> str | None:
    """The signal that ended the driver (``-9`` from Python, ``137`` through the entrypoint's shell), or None."""
    if exit_code is None or exit_code == 0:
        return None
    number = -exit_code if exit_code < 0 else exit_code - 128 if 128 < exit_code <= 128 + 64 else None
    if number is None:
        return None
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def driver_failure(message: str, exit_code: int | None, unfinished: Sequence[str] = ()) -> str | None:
    """Ray's reason for a job whose driver ended without finishing the run, with the fix where one is known.

    Ray's message is ``Job entrypoint command failed with exit code 1, last available logs ...:`` and
    the log's tail; its last line is the driver's error (``ModuleNotFoundError: No module named ...``).
    A driver ended by a signal (the OOM killer, a kill) wrote no error of its own: that is the reason.
    """
    sig = killed_by(exit_code)
    if sig is not None:
        where = f" while unit(s) {', '.join(unfinished)} had not finished" if unfinished else ""
        return (
            f"the flowyml driver on the Ray cluster was killed by {sig} (exit code {exit_code}){where}, and the "
            "run ended with it (its node ran out of memory, or the process was killed); the units it started were "
            "stopped with it. `flowyml resume <run id>` runs again what did not complete"
        )
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return None
    if len(lines) == 1 or not lines[0].startswith("Job entrypoint command failed"):
        return lines[0]
    error = lines[-1]
    reason = f"the flowyml driver failed on the cluster (exit code {exit_code}): {error}"
    if "No module named 'flowyml" in error:
        reason += (
            "; install flowyml-core and flowyml-ray from a clone of flowyml on the cluster's nodes (in their image), "
            "or ship their wheels with the stack's runtime_env (working_dir + pip: docs/backends/ray.md, "
            '"Getting flowyml onto the nodes"), and check orchestrator.python names an interpreter that has them'
        )
    return reason


def report(handle: RunHandle, info: Any) -> StatusReport:
    """The run's report from the job's details and the driver's progress document."""
    state = _state(info)
    store = _store(handle)
    doc = progress.read_progress(store, handle.run_id)
    stop = state != "SUCCEEDED" and state != "STOPPED" and progress.stop_requested(store, handle.run_id)
    native = job_native_state(state, stop, doc.get("state") == "TIMED_OUT", doc.get("state") == "SUCCEEDED")
    status = run_status(native)
    published = {unit: str(entry.get("state")) for unit, entry in (doc.get("units") or {}).items()}
    units = unit_statuses(list(handle.units), published, status)
    message = None
    if status in (S.FAILED, S.TIMED_OUT):
        message = _failure(doc, info)
    elif status.is_finished and info.message:
        message = str(info.message).strip().splitlines()[0]
    summary = ", ".join(f"{u}={published.get(u, 'PENDING')}" for u in handle.units)
    return StatusReport(
        status=status, native_state=f"{native} ({summary})" if summary else native, message=message, units=units
    )


def status(handle: RunHandle, config: RayConfig) -> StatusReport:
    """The job's details over plain HTTP: ``flowyml status`` of a Ray run does not import Ray."""
    return report(handle, job_info(config, handle.job_id))


def status_many(handles: list[RunHandle], config: RayConfig) -> dict[str, StatusReport]:
    """One ``list_jobs`` for every run on this cluster; runs it does not list are left to ``status``."""
    jobs = {job.submission_id: job for job in list_job_infos(config) if job.submission_id}
    return {h.run_id: report(h, jobs[h.job_id]) for h in handles if h.job_id in jobs}


def cancel(handle: RunHandle, config: RayConfig, graceful: bool) -> bool:
    """``stop_job``: the driver cancels the running tasks; the run reads STOPPING until Ray says STOPPED."""
    client = client_for(config)
    info = call(lambda: client.get_job_info(handle.job_id), f"get Ray job {handle.job_id}")
    if _state(info) in _TERMINAL:
        return False
    store = _store(handle)
    if not progress.stop_requested(store, handle.run_id):
        progress.request_stop(store, handle.run_id, graceful)
    call(lambda: client.stop_job(handle.job_id), f"stop Ray job {handle.job_id}")
    return True


def details(handle: RunHandle, config: RayConfig) -> dict[str, Any]:
    client = client_for(config)
    info = call(lambda: client.get_job_info(handle.job_id), f"get Ray job {handle.job_id}")
    doc = progress.read_progress(_store(handle), handle.run_id)
    keep = ("state", "node_id", "worker_pid", "started_at", "finished_at", "duration_seconds", "exit_code", "error")
    units = {
        unit: {k: v for k, v in (doc.get("units") or {}).get(unit, {"state": "PENDING"}).items() if k in keep}
        for unit in handle.units
    }
    env = dict(info.runtime_env or {})
    return {
        "run_id": handle.run_id,
        "job_id": handle.job_id,
        "platform": BACKEND,
        "address": config.jobs_address(),
        "dashboard_url": job_url(config, handle.job_id),
        "ray_job_id": info.job_id,
        "state": _state(info),
        "message": (info.message or "").strip().splitlines()[0] if info.message else None,
        "entrypoint": info.entrypoint,
        "driver_node_id": info.driver_node_id or (doc.get("driver") or {}).get("node_id"),
        "driver_exit_code": info.driver_exit_code,
        "driver_started_at": (doc.get("driver") or {}).get("started_at"),
        "started_at": info.start_time / 1000 if info.start_time else None,
        "finished_at": info.end_time / 1000 if info.end_time else None,
        "units": units,
        "nodes": sorted({u["node_id"] for u in units.values() if u.get("node_id")}),
        # runtime_env values may hold credentials (env_vars): only the keys are shown
        "runtime_env": sorted(env),
        "env_vars": sorted((env.get("env_vars") or {}).keys()),
    }
