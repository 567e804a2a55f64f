"""``RemoteOrchestrator``: the seed API (run_pipeline, status, logs, cancel, outputs), once over the backends."""

from __future__ import annotations

__all__ = ["RemoteOrchestrator", "attach", "get_orchestrator"]

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from flowyml.core.errors import (
    ConfigError,
    FlowymlError,
    RunIdConflictError,
    RunNotFoundError,
    TransientBackendError,
)
from flowyml.core.resources import DockerConfig, ResourceConfig
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators.configs import redact_config, stack_config, stored_config, structure_config
from flowyml.orchestrators.layout import RunLayout, join_errors, run_error
from flowyml.orchestrators.registry import SUBMITTER, is_provisional, submitter_alive, submitter_identity
from flowyml.orchestrators.submission import SubmissionResult
from flowyml.plugins.schedules import ScheduleInfo
from flowyml.plugins.types import LogRecord, RunHandle, StatusReport, resolve_store_settings
from flowyml.secrets import stored_settings

if TYPE_CHECKING:
    from flowyml.core.retry_policy import OrchestratorRetryPolicy

log = logging.getLogger("flowyml.orchestrator")

#: Test only: ``FLOWYML_TEST_KILL_AT=<point>`` ends the submitting process at that named point of
#: the submit path (``os._exit``), as a SIGKILL would; the kill-the-submitter tests use it.
KILL_AT_ENV = "FLOWYML_TEST_KILL_AT"
KILLED_EXIT = 86


def kill_point(name: str) -> None:
    """End the process at once if ``$FLOWYML_TEST_KILL_AT`` names this point (test only)."""
    if os.environ.get(KILL_AT_ENV) == name:
        os._exit(KILLED_EXIT)


def safe_str(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when the exception's ``__str__`` itself raises."""
    try:
        return str(exc)
    except Exception:  # any failure of a user's __str__
        return f"<{type(exc).__name__} whose message could not be read>"


def store_arguments(stored: Mapping[str, Any]) -> dict[str, Any]:
    """``store_settings`` and ``store_templates`` for an orchestrator from settings in their stored form."""
    from flowyml.config.loader import has_reference

    return {
        "store_settings": resolve_store_settings(stored),
        "store_templates": {k: v for k, v in stored.items() if has_reference(v)},
    }


class RemoteOrchestrator:
    """Runs pipelines on a backend through the plugin hooks; cloud classes are thin facades.

    ``RemoteOrchestrator.for_backend("aws_batch", config)`` works for any installed backend;
    ``AWSBatchOrchestrator(job_queue=..., ...)`` is the same thing with the seed constructor.
    """

    backend: ClassVar[str] = ""

    def __init__(
        self,
        name: str | None = None,
        config: Any = None,
        *,
        backend: str | None = None,
        artifact_store: str | None = None,
        store_settings: Mapping[str, str] | None = None,
        store_templates: Mapping[str, Any] | None = None,
        docker_config: DockerConfig | None = None,
        resources: ResourceConfig | None = None,
        stack: str | None = None,
        registry: Any = None,
        plugin_manager: Any = None,
        pipeline_module: str | None = None,
    ) -> None:
        from flowyml.plugins.manager import BACKEND_ALIASES

        self.backend_name = BACKEND_ALIASES.get(backend or self.backend, backend or self.backend)
        if not self.backend_name:
            raise ConfigError("RemoteOrchestrator needs a backend name")
        self.name = name or self.backend_name
        self._pm = plugin_manager
        info = self.plugin_manager.backend(self.backend_name)
        if config is None:
            config = info.config_class()
        elif isinstance(config, Mapping):
            config = structure_config(info.config_class, config, f"{self.backend_name} config")
        self.config = config
        self.artifact_root = _as_uri(artifact_store) if artifact_store else self.default_artifact_root()
        self.store_settings = info.store_settings(config, dict(store_settings or {}))
        #: what is written down (registry, ``job.json``, the jobs' environment): ``${VAR}`` as written
        self.stored_store_settings = stored_settings(self.store_settings, store_templates or {})
        self.docker_config = docker_config
        self.resources = resources
        self.stack = stack
        self.pipeline_module = pipeline_module
        self._registry = registry

    # -- plumbing ----------------------------------------------------------------------------
    @property
    def plugin_manager(self):
        if self._pm is None:
            from flowyml.plugins.manager import get_plugin_manager

            self._pm = get_plugin_manager()
        return self._pm

    @property
    def registry(self):
        if self._registry is None:
            from flowyml.orchestrators.registry import RunRegistry

            self._registry = RunRegistry()
        return self._registry

    def default_artifact_root(self) -> str:
        """Where artifacts go when no store is configured.

        A backend config may answer with a ``default_artifact_root()`` method (its bucket);
        otherwise ``$FLOWYML_HOME/artifacts``.
        """
        from_config = getattr(self.config, "default_artifact_root", None)
        root = from_config() if callable(from_config) else None
        if root:
            return root
        from flowyml.home import flowyml_home

        return (flowyml_home() / "artifacts").as_uri()

    def check_store_reachable(self) -> None:
        """Refuse a ``file://`` artifact store for a backend whose jobs run on other machines.

        Such a job would get a path on the submitting machine and fail after a billable start.
        A store on a shared mount (NFS, EFS, GCS FUSE, a one-machine cluster) is accepted with
        ``artifact_store: {uri: ..., settings: {shared: "true"}}``.
        """
        backend = self.plugin_manager.backend(self.backend_name)
        shared = str(self.store_settings.get("shared", "")).lower() in ("true", "1", "yes")
        if self.artifact_root.startswith("file://") and not shared and backend.needs_remote_store_for(self.config):
            raise ConfigError(
                f"the {self.backend_name} backend runs jobs on other machines, which cannot read the local "
                f"artifact store {self.artifact_root}: set `artifact_store: {{uri: ...}}` to a bucket the jobs "
                "can reach (s3://, gs://, abfs://), or, for a path every job mounts, add "
                '`settings: {shared: "true"}`'
            )

    def runner_command(self) -> list[str] | None:
        """The argv prefix that starts the step-runner in the unit's container (None: default)."""
        return None

    @classmethod
    def for_backend(cls, backend: str, config: Any = None, **kwargs: Any) -> RemoteOrchestrator:
        return RemoteOrchestrator(backend=backend, config=config, **kwargs)

    @classmethod
    def for_handle(cls, handle: RunHandle, **kwargs: Any) -> RemoteOrchestrator:
        """An orchestrator for an existing run (re-attach).

        The config is the run's stack from ``flowyml.yaml`` when it is there (secrets included,
        through ``${ENV}``); otherwise the handle's copy, whose secret fields were left out — a
        backend then takes them from its own environment defaults.
        """
        return RemoteOrchestrator(
            backend=handle.backend,
            config=stack_config(handle) or stored_config(handle.config),
            artifact_store=handle.artifact_root,
            **store_arguments(handle.metadata.get("store_settings") or {}),
            **kwargs,
        )

    def _handle(self, run_or_job_id: str | RunHandle) -> RunHandle:
        if isinstance(run_or_job_id, RunHandle):
            return run_or_job_id
        return self.registry.get(run_or_job_id).handle

    def _config_for(self, handle: RunHandle) -> Any:
        if handle.backend == self.backend_name:
            return self.config
        info = self.plugin_manager.backend(handle.backend)
        return structure_config(info.config_class, stored_config(handle.config), f"{handle.backend} config")

    # -- the seed API ------------------------------------------------------------------------
    def run_pipeline(
        self,
        pipeline: Any,
        run_id: str | None = None,
        resources: ResourceConfig | None = None,
        docker_config: DockerConfig | None = None,
        inputs: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        pipeline_module: str | None = None,
        timeout: float | None = None,
        labels: Mapping[str, str] | None = None,
        retry_policy: OrchestratorRetryPolicy | None = None,
        **kwargs: Any,
    ) -> SubmissionResult:
        """Submit ``pipeline`` and return at once with a :class:`SubmissionResult`.

        Writes the job spec (and any ``inputs``) to the artifact store, calls the backend's
        submit hook, and records the run in the registry so any process can re-attach.
        ``retry_policy`` travels to the step-runner, which re-runs a unit's failed steps with it;
        ``on_pipeline_start`` hooks run here, once the run is submitted.
        """
        from flowyml.core.names import check_name
        from flowyml.core.pipeline import new_run_id

        if kwargs:
            unknown = ", ".join(sorted(kwargs))
            raise TypeError(f"run_pipeline() got unexpected arguments: {unknown}")
        run_id = check_name(run_id, "run id") if run_id is not None else new_run_id(pipeline.name)
        spec = self._job_spec(
            pipeline,
            run_id,
            inputs=inputs,
            context=context,
            resources=resources,
            docker_config=docker_config,
            pipeline_module=pipeline_module,
            timeout=timeout,
            labels=labels,
            retry_policy=retry_policy,
        )
        return self.submit_spec(spec, inputs=inputs, pipeline=pipeline)

    def _job_spec(
        self,
        pipeline: Any,
        run_id: str,
        *,
        inputs: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        resources: ResourceConfig | None = None,
        docker_config: DockerConfig | None = None,
        pipeline_module: str | None = None,
        timeout: float | None = None,
        labels: Mapping[str, str] | None = None,
        retry_policy: OrchestratorRetryPolicy | None = None,
    ) -> Any:
        """The job spec of ``pipeline`` under ``run_id`` on this orchestrator (nothing written yet)."""
        from flowyml.orchestrators.spec import build_job_spec

        runner = sys.modules.get("flowyml.runner")
        if runner is not None:
            runner.check_not_importing()
        self.check_store_reachable()
        docker = docker_config or self.docker_config
        if retry_policy is not None:
            docker = attrs.evolve(
                docker or DockerConfig(), env_vars={**(docker.env_vars if docker else {}), **retry_policy.to_env()}
            )
        return build_job_spec(
            pipeline,
            run_id,
            self.artifact_root,
            inputs=inputs,
            context=context,
            resources=resources or self.resources,
            docker=docker,
            pipeline_module=pipeline_module or self.pipeline_module,
            stack=self.stack,
            store_settings=self.stored_store_settings,
            runner_command=self.runner_command(),
            timeout_seconds=timeout,
            labels=labels,
        )

    def submit_spec(self, spec: Any, inputs: Mapping[str, Any] | None = None, pipeline: Any = None) -> SubmissionResult:
        """Submit a built job spec: claim its run id (create-only spec write), save ``inputs``,
        call the backend, record the run. The same spec again finds the same run.

        With the ``pipeline`` object at hand (not for a scheduled firing), its version goes into
        the run's metadata and its ``on_pipeline_start`` hooks run.
        """
        from flowyml.artifacts.store import ArtifactStore
        from flowyml.core.hooks import pipeline_started
        from flowyml.orchestrators.spec import PIPELINE_INPUT
        from flowyml.secrets import check_delivery

        run_id = spec.run_id
        check_delivery(spec.secrets, self.plugin_manager.backend(self.backend_name))
        store = ArtifactStore(spec.artifact_root, self.store_settings)
        layout = RunLayout(run_id)
        kill_point("before_row")
        provisional = self._provisional_handle(spec)
        owned = self._begin(provisional)
        kill_point("after_row")
        handle: RunHandle | None = None
        try:
            self._claim_run_id(store, layout, spec)
            kill_point("after_spec")
            for name, value in (inputs or {}).items():
                store.save(value, layout.input(name), name=name, step=PIPELINE_INPUT)
            kill_point("after_inputs")
            handle = self.plugin_manager.submit(spec, self.backend_name, self.config)
            kill_point("after_submit")
            version = getattr(pipeline, "version", None)
            handle = handle.evolve(
                config=redact_config(self.config),
                artifact_root=spec.artifact_root,
                pipeline_name=spec.pipeline_name,
                metadata={
                    **handle.metadata,
                    "store_settings": self.stored_store_settings,
                    "stack": self.stack,
                    **({"pipeline_version": version} if version else {}),
                    **({"resumed_from": spec.resumed_from} if spec.resumed_from else {}),
                },
            )
            record = self.registry.record(handle, stack=self.stack)
            kill_point("after_record")
        except RunIdConflictError:
            if owned == "new":
                self.registry.discard(run_id)  # refused before any side effect: leave no row behind
            raise
        except TransientBackendError:
            if owned:  # the backend's state is unknown: the next status, list or submit reconciles it
                self.registry.resume(provisional.evolve(metadata={**provisional.metadata, SUBMITTER: {}}))
            raise
        except BaseException as exc:
            if owned:
                self._fail_submission(handle or provisional, exc)
            raise
        if record.status is ExecutionStatus.CANCELLED:  # cancelled while we were submitting
            with contextlib.suppress(FlowymlError):
                self.plugin_manager.cancel(handle, self.config, True)
        log.info("submitted run %s to %s as %s", run_id, self.backend_name, handle.job_id)
        if pipeline is not None:
            pipeline_started(pipeline, run_id)
        return SubmissionResult(handle, self, pipeline=pipeline)

    # -- atomic submission ---------------------------------------------------------------------
    def _provisional_handle(self, spec: Any) -> RunHandle:
        """What the registry holds while the backend has not answered: enough to ask it about the run."""
        return RunHandle(
            backend=self.backend_name,
            run_id=spec.run_id,
            job_id=spec.run_id,
            units={u.name: "" for u in spec.units},
            metadata={
                SUBMITTER: submitter_identity(),
                "store_settings": self.stored_store_settings,
                "stack": self.stack,
            },
            config=redact_config(self.config),
            artifact_root=spec.artifact_root,
            pipeline_name=spec.pipeline_name,
        )

    def _begin(self, provisional: RunHandle) -> str | None:
        """Register the submission before any side effect.

        Returns "new" (a SUBMITTING row was inserted), "resumed" (an interrupted or failed
        submission of this run id is taken over), or None (the run exists: an idempotent re-submit).
        A run id held by another backend or artifact store is refused (:class:`RunIdConflictError`).
        """
        run_id = provisional.run_id
        while True:
            existing = self.registry.find(run_id)
            if existing is None:
                if self.registry.begin(provisional, stack=self.stack):
                    return "new"
                continue  # another submitter inserted it meanwhile
            where = (existing.handle.backend, existing.handle.artifact_root)
            if where != (self.backend_name, provisional.artifact_root):
                raise RunIdConflictError(run_id, f"it is a run on {where[0]} with artifacts at {where[1]}")
            if not is_provisional(existing.handle) or existing.status is ExecutionStatus.CANCELLED:
                return None
            if existing.status is ExecutionStatus.SUBMITTING and submitter_alive(existing.handle):
                return None  # another process is submitting the same run right now; both are idempotent
            if self.registry.resume(provisional):
                return "resumed"

    def _fail_submission(self, created: RunHandle, exc: BaseException) -> None:
        """A submit that failed part-way: cancel what it created (best effort), record FAILED with the reason."""
        reason = "submission interrupted" if not isinstance(exc, Exception) else "submission failed"
        try:
            cancelled = self.plugin_manager.cancel(created, self.config, False)
            undone = "; what it created was cancelled" if cancelled else ""
        except Exception as cancel_exc:  # best effort: the submit's own error is the news
            # the same failure again (no credentials, service down) says nothing new: keep stderr to one line
            level = logging.DEBUG if type(cancel_exc) is type(exc) else logging.WARNING
            log.log(level, "could not cancel the partial submission of %s: %s", created.run_id, cancel_exc)
            undone = ""
        message = f"{reason}: {type(exc).__name__}: {safe_str(exc)}{undone}"
        try:
            self.registry.update_status(
                created.run_id, ExecutionStatus.FAILED, message, only_if=ExecutionStatus.SUBMITTING
            )
        except Exception as reg_exc:  # the next status reconciles the row
            log.warning("could not record the failed submission of %s: %s", created.run_id, reg_exc)

    def _reconcile(self, handle: RunHandle) -> StatusReport:
        """The status of a provisional run: adopted if the backend knows it, FAILED if its submitter died first."""
        record = self.registry.find(handle.run_id)
        if record is None:
            raise RunNotFoundError(f"no run {handle.run_id!r} in the run registry ({self.registry.path})")
        if not is_provisional(record.handle):
            return self.get_status_report(record.handle)
        if record.status.is_finished:
            return StatusReport(record.status, native_state=None, message=record.message)
        who = record.handle.metadata.get(SUBMITTER) or {}
        if submitter_alive(record.handle):
            return StatusReport(
                ExecutionStatus.SUBMITTING,
                message=f"being submitted by pid {who.get('pid')} on {who.get('host')}",
            )
        created = self._find_created(record.handle)
        if created is None:
            message = (
                f"submission interrupted: the submitting process ended before {record.handle.backend} accepted "
                f"the run; submit it again with the same run id ({record.run_id}) to run it"
            )
            self.registry.update_status(
                record.run_id, ExecutionStatus.FAILED, message, only_if=ExecutionStatus.SUBMITTING
            )
            return self._reconcile(record.handle)
        self.registry.record(created, stack=record.stack)
        return self.get_status_report(created)

    def _find_created(self, provisional: RunHandle) -> RunHandle | None:
        """What the backend has of a submission whose submitter ended: its handle (adopted), or None.

        The job spec is written before the backend is called, so without one nothing was created.
        Otherwise the backend's :meth:`~flowyml.plugins.Backend.find` looks (as its idempotent
        submit does); a backend without ``find`` is asked the status of the run id instead.
        """
        from flowyml.core.errors import ArtifactNotFoundError
        from flowyml.plugins.backend import Backend
        from flowyml.plugins.types import JobSpec

        try:
            doc = self._run_store(provisional).read_json(RunLayout(provisional.run_id).spec)
        except ArtifactNotFoundError:
            return None
        config = self._config_for(provisional)
        metadata = {k: v for k, v in provisional.metadata.items() if k != SUBMITTER}
        if type(self.plugin_manager.backend(provisional.backend)).find is Backend.find:
            try:
                report = self.plugin_manager.status(provisional, config)
            except RunNotFoundError:
                return None
            return None if report.status is ExecutionStatus.UNKNOWN else provisional.evolve(metadata=metadata)
        spec = JobSpec.from_dict(doc)
        found = self.plugin_manager.call(provisional.backend, "find", lambda b: b.find(spec, config))
        if found is None:
            return None
        return found.evolve(
            config=provisional.config,
            artifact_root=provisional.artifact_root,
            pipeline_name=provisional.pipeline_name,
            metadata={**found.metadata, **metadata},
        )

    def _claim_run_id(self, store: Any, layout: RunLayout, spec: Any) -> None:
        """Write the job spec create-only; the same spec again is an idempotent re-submit, a
        different one under the same run id is refused before anything is written."""
        doc = spec.to_dict()
        if store.write_json(layout.spec, doc, create_only=True):
            return
        found = store.read_json(layout.spec)
        if found != doc:
            changed = sorted(k for k in set(doc) | set(found) if doc.get(k) != found.get(k))
            raise RunIdConflictError(spec.run_id, f"its job spec differs ({', '.join(changed)})")

    def get_status_report(self, job_id: str | RunHandle) -> StatusReport:
        """The backend's report now; for a failed run, the failing step's error is added to the message."""
        handle = self._handle(job_id)
        if is_provisional(handle):
            return self._reconcile(handle)
        return self._recorded(handle, self.plugin_manager.status(handle, self._config_for(handle)))

    def _recorded(self, handle: RunHandle, report: StatusReport) -> StatusReport:
        """Add the failing step's error to a FAILED report and remember what the backend said."""
        report = self._explained(handle, report)
        if report.status is not ExecutionStatus.UNKNOWN:
            self.registry.update_status(handle.run_id, report.status, report.message)
        return report

    def _explained(self, handle: RunHandle, report: StatusReport) -> StatusReport:
        if report.status is ExecutionStatus.FAILED:
            report = attrs.evolve(report, message=self._failure_message(handle, report.message))
        return report

    def _run_store(self, handle: RunHandle) -> Any:
        """The artifact store the run wrote to."""
        from flowyml.artifacts.store import ArtifactStore

        stored = handle.metadata.get("store_settings")
        return ArtifactStore(handle.artifact_root, resolve_store_settings(stored) if stored else self.store_settings)

    def _failure_message(self, handle: RunHandle, native: str | None) -> str | None:
        """Join the service's reason with the step error the step-runner recorded, if any."""
        try:
            step_error = run_error(self._run_store(handle), handle.run_id)
        except Exception as exc:  # enrichment only: the service's own reason still stands
            log.warning("could not read the step error of %s: %s", handle.run_id, exc)
            return native
        return join_errors(native, step_error)

    def get_run_statuses(self, job_ids: Iterable[str | RunHandle]) -> dict[str, StatusReport]:
        """Reports for many runs at once (run id -> report), batched where the backend can
        (AWS Batch: one ``describe_jobs`` per 100 jobs). A run the service no longer knows may
        read UNKNOWN, with the reason, instead of hiding the others behind an error."""
        handles = [self._handle(j) for j in job_ids]
        reconciled = {h.run_id: self._reconcile(h) for h in handles if is_provisional(h)}  # they record themselves
        handles = [h for h in handles if h.run_id not in reconciled]
        reports: dict[str, StatusReport] = {}
        groups: dict[tuple[str, str], list[RunHandle]] = {}
        for handle in handles:  # one batch per backend and config (runs in two regions: two batches)
            same_config = handle.backend == self.backend_name
            key = (handle.backend, "" if same_config else json.dumps(handle.config, sort_keys=True, default=str))
            groups.setdefault(key, []).append(handle)
        for (backend, _), group in groups.items():
            answer = self.plugin_manager.status_many(backend, group, self._config_for(group[0]))
            for handle in group:
                reports[handle.run_id] = self._explained(handle, answer[handle.run_id])
        known = [
            (r, rep.status, rep.message) for r, rep in reports.items() if rep.status is not ExecutionStatus.UNKNOWN
        ]
        self.registry.update_statuses(known)  # one transaction for the round, not one per run
        return {**reconciled, **reports}

    def get_run_status(self, job_id: str) -> ExecutionStatus:
        """The run's status now (by run id or job id)."""
        return self.get_status_report(job_id).status

    def stop_run(self, job_id: str | RunHandle, graceful: bool = True) -> bool:
        """Request cancellation; the status reads STOPPING until the backend confirms CANCELLED.

        True if a cancel was requested, False if the run had ended. A run whose submission has not
        completed is cancelled too: whatever the backend has of it, and its registry row (a live
        submitter then cancels what it creates).
        """
        handle = self._handle(job_id)
        if not is_provisional(handle):
            return self.plugin_manager.cancel(handle, self._config_for(handle), graceful)
        record = self.registry.find(handle.run_id)
        if record is None or record.status.is_finished:
            return False
        if not is_provisional(record.handle):
            return self.plugin_manager.cancel(record.handle, self._config_for(record.handle), graceful)
        if not submitter_alive(record.handle):
            created = self._find_created(record.handle)
            if created is not None:  # adopt what the backend has, then cancel it as any run
                self.registry.record(created, stack=record.stack)
                return self.plugin_manager.cancel(created, self._config_for(created), graceful)
        with contextlib.suppress(RunNotFoundError):
            self.plugin_manager.cancel(record.handle, self._config_for(record.handle), graceful)
        self.registry.update_status(
            handle.run_id,
            ExecutionStatus.CANCELLED,
            "cancelled before its submission completed",
            only_if=ExecutionStatus.SUBMITTING,
        )
        return True

    def iter_logs(
        self,
        job_id: str | RunHandle,
        cursor: str | None = None,
        follow: bool = False,
        poll_interval: float | None = None,
    ) -> Iterator[LogRecord]:
        """The run's log records after ``cursor``; with ``follow``, until the run has ended."""
        handle = self._handle(job_id)
        return self.plugin_manager.logs(
            handle, self._config_for(handle), cursor=cursor, follow=follow, poll_interval=poll_interval
        )

    def get_run_logs(self, job_id: str, max_entries: int = 200) -> str:
        """The last ``max_entries`` log lines as text."""
        lines = [
            f"[{r.iso_time}] [{r.severity}] {f'[{r.unit}] ' if r.unit else ''}{r.message}"
            for r in self.iter_logs(job_id)
        ]
        return "\n".join(lines[-max_entries:])

    def stream_logs(self, job_id: str, poll_interval: float | None = None) -> Iterator[LogRecord]:
        """Follow the run's logs until it ends, polling every ``poll_interval`` s (default: the backend's)."""
        return self.iter_logs(job_id, follow=True, poll_interval=poll_interval)

    def get_run_details(self, job_id: str) -> dict[str, Any]:
        handle = self._handle(job_id)
        details = dict(self.plugin_manager.details(handle, self._config_for(handle)))
        details.setdefault("run_id", handle.run_id)
        details.setdefault("job_id", handle.job_id)
        details.setdefault("platform", handle.backend)
        if handle.metadata.get("resumed_from"):
            details.setdefault("resumed_from", handle.metadata["resumed_from"])
        return details

    def resume_run(self, run_id: str, from_step: str | None = None, new_run_id: str | None = None) -> SubmissionResult:
        """Submit a new run that resumes a failed or cancelled one (``flowyml resume``).

        Units the run completed are not executed again: their outputs are read from the old
        run's artifacts. The failed units and everything downstream run; ``from_step`` also
        re-runs that step's unit and everything downstream of it, even in a completed run.
        ``new_run_id`` follows the run-id rules of :meth:`run_pipeline` (default: generated).
        """
        from flowyml.orchestrators.resume import resume_run

        return resume_run(self, run_id, from_step, new_run_id)

    # -- native schedules (backends with the ``schedules`` capability) ------------------------
    def schedule(
        self,
        pipeline: Any,
        cron: str,
        name: str,
        timezone: str = "UTC",
        *,
        context: Mapping[str, Any] | None = None,
        resources: ResourceConfig | None = None,
        docker_config: DockerConfig | None = None,
        pipeline_module: str | None = None,
        timeout: float | None = None,
        labels: Mapping[str, str] | None = None,
        retry_policy: OrchestratorRetryPolicy | None = None,
        paused: bool = False,
    ) -> ScheduleInfo:
        """Have the backend run ``pipeline`` on ``cron`` (5 fields, in ``timezone``) without this process.

        Each firing is a normal run with the id ``<name>-<yyyymmdd-hhmmss>`` (the fire time in
        UTC), listed by ``flowyml runs``. The same name again replaces the schedule.
        """
        from flowyml.artifacts.store import ArtifactStore
        from flowyml.core.names import check_name
        from flowyml.plugins.schedules import ScheduleSpec, check_cron

        check_name(name, "schedule name")
        check_cron(cron, timezone)
        template = self._job_spec(
            pipeline,
            name,
            context=context,
            resources=resources,
            docker_config=docker_config,
            pipeline_module=pipeline_module,
            timeout=timeout,
            labels=labels,
            retry_policy=retry_policy,
        )
        spec = ScheduleSpec(name=name, cron=" ".join(cron.split()), job=template, timezone=timezone, paused=paused)
        if "schedules" in self.plugin_manager.backend(self.backend_name).capabilities:
            # the template, where units a cloud schedule starts read it (``--job``; see claim_firing)
            store = ArtifactStore(template.artifact_root, self.store_settings)
            store.write_json(RunLayout(name).spec, template.to_dict())
        info = self.plugin_manager.schedule_create(self.backend_name, spec, self.config)
        log.info("scheduled %s on %s: %s (%s)", name, self.backend_name, spec.cron, timezone)
        return info

    def list_schedules(self) -> list[ScheduleInfo]:
        """The backend's flowyml schedules, by name; the runs they started that the run registry
        does not know yet are recorded in it (so ``flowyml runs`` lists them)."""
        infos = sorted(self.plugin_manager.schedule_list(self.backend_name, self.config), key=lambda i: i.name)
        for index, info in enumerate(infos):
            handles = self.record_schedule_runs(info.name)
            if info.last_run_id is None and handles:  # the service keeps no "last run": the newest firing's
                infos[index] = attrs.evolve(info, last_run_id=max(h.run_id for h in handles))
        return infos

    def record_schedule_runs(self, name: str) -> list[RunHandle]:
        """Record in the run registry the runs the backend's schedule ``name`` started; returns them."""
        handles = self.plugin_manager.schedule_runs(self.backend_name, name, self.config)
        recorded = []
        for handle in handles:
            try:
                recorded.append(self.registry.get(handle.run_id).handle)
                continue
            except RunNotFoundError:
                pass
            handle = handle.evolve(
                config=redact_config(self.config),
                artifact_root=handle.artifact_root or self.artifact_root,
                metadata={**handle.metadata, "store_settings": self.stored_store_settings, "stack": self.stack},
            )
            self.registry.record(handle, stack=self.stack)
            recorded.append(handle)
        return recorded

    def get_schedule(self, name: str) -> ScheduleInfo:
        """One schedule (``ScheduleNotFoundError`` naming the ones there are)."""
        from flowyml.plugins.schedules import ScheduleNotFoundError

        found = self.list_schedules()
        for info in found:
            if info.name == name:
                return info
        names = ", ".join(i.name for i in found) or "none"
        raise ScheduleNotFoundError(f"no schedule {name!r} on {self.backend_name}; schedules: {names}")

    def pause_schedule(self, name: str) -> ScheduleInfo:
        return self.plugin_manager.schedule_pause(self.backend_name, name, self.config)

    def resume_schedule(self, name: str) -> ScheduleInfo:
        return self.plugin_manager.schedule_resume(self.backend_name, name, self.config)

    def delete_schedule(self, name: str) -> bool:
        """Remove the schedule (True if it existed); the runs it started stay."""
        return self.plugin_manager.schedule_delete(self.backend_name, name, self.config)

    def validate(self) -> bool:
        """Check the configuration (raises ``ConfigError`` naming the field); True when valid."""
        check = getattr(self.config, "validate", None)
        if callable(check):
            check()
        return True

    def to_dict(self) -> dict[str, Any]:
        """The orchestrator's settings, secrets removed."""
        return {
            "name": self.name,
            "type": self.backend_name,
            **redact_config(self.config),
            "artifact_store": self.artifact_root,
        }

    # -- async twins (implemented in flowyml.aio) ---------------------------------------------
    async def run_pipeline_async(self, pipeline: Any, run_id: str | None = None, **kwargs: Any) -> SubmissionResult:
        """Submit without blocking the event loop (the SDK call runs in a worker thread)."""
        from flowyml.orchestrators.asyncops import submit_async

        return await submit_async(self, pipeline, run_id=run_id, **kwargs)

    async def get_run_status_async(self, job_id: str) -> ExecutionStatus:
        from flowyml.orchestrators.asyncops import get_run_status_async

        return await get_run_status_async(self, job_id)

    async def stop_run_async(self, job_id: str, graceful: bool = True) -> None:
        from flowyml.orchestrators.asyncops import stop_run_async

        await stop_run_async(self, job_id, graceful=graceful)

    def stream_logs_async(self, job_id: str, poll_interval: float | None = None) -> Any:
        """``async for record in orchestrator.stream_logs_async(job_id)``."""
        from flowyml.orchestrators.asyncops import stream_logs_async

        return stream_logs_async(self, job_id, poll_interval=poll_interval)

    # -- outputs -----------------------------------------------------------------------------
    def _run_spec(self, handle: RunHandle) -> tuple[Any, Any]:
        """(artifact store, job spec) of a submitted run."""
        from flowyml.plugins.types import JobSpec

        store = self._run_store(handle)
        return store, JobSpec.from_dict(store.read_json(RunLayout(handle.run_id).spec))

    def load_output(self, handle: RunHandle, name: str) -> Any:
        store, spec = self._run_spec(handle)
        units = [*spec.units, *(r.unit for r in spec.reused)]  # a resumed run's reused outputs are its own too
        for unit in units:
            if name in unit.outputs:
                step_name = unit.outputs[name]
                return store.load(RunLayout(spec.producer_run(step_name)).output(step_name, name))
        by_step = _step_value_keys(spec)
        if name in by_step and store.exists(by_step[name]):
            return store.load(by_step[name])
        outputs = sorted(o for u in units for o in u.outputs)
        raise KeyError(f"run {handle.run_id!r} has no output {name!r}; outputs: {outputs}")

    def load_outputs(self, handle: RunHandle) -> dict[str, Any]:
        """Every output of the run by name, and each step's value by the step's name (as in-process)."""
        store, spec = self._run_spec(handle)
        result = {}
        loaded: dict[str, Any] = {}
        for unit in [*(r.unit for r in spec.reused), *spec.units]:
            for out, step_name in unit.outputs.items():
                key = RunLayout(spec.producer_run(step_name)).output(step_name, out)
                if store.exists(key):
                    result[out] = loaded[key] = store.load(key)
        for step_name, key in _step_value_keys(spec).items():
            if key in loaded:
                result[step_name] = loaded[key]
            elif store.exists(key):
                result[step_name] = store.load(key)
        return result


def _step_value_keys(spec: Any) -> dict[str, str]:
    """Where each step's value is kept, for reading it by the step's name (``outputs["train"]``): its one
    declared output, or the value a step with none leaves as :data:`UNNAMED_OUTPUT`. A step with
    several outputs, or named like an output, has no entry."""
    from flowyml.core.executor import UNNAMED_OUTPUT

    units = [*(r.unit for r in spec.reused), *spec.units]
    named = {out for u in units for out in u.outputs}
    keys = {}
    for unit in units:
        for step_name in unit.steps:
            outs = [out for out, producer in unit.outputs.items() if producer == step_name]
            if step_name not in named and len(outs) <= 1:
                name = outs[0] if outs else UNNAMED_OUTPUT
                keys[step_name] = RunLayout(spec.producer_run(step_name)).output(step_name, name)
    return keys


def _as_uri(location: str) -> str:
    """An artifact store location as a URI: a plain path is a ``file://`` store."""
    if "://" in location:
        return location
    from pathlib import Path

    return Path(location).expanduser().resolve().as_uri()


def attach(run_id: str) -> SubmissionResult:
    """Re-attach to a run submitted from any process (looked up in the run registry)."""
    from flowyml.orchestrators.registry import RunRegistry

    return SubmissionResult(RunRegistry().get(run_id).handle)


def get_orchestrator(stack: str | None = None, config_path: str | None = None) -> RemoteOrchestrator:
    """The orchestrator of a stack from ``flowyml.yaml`` (``--stack`` / ``$FLOWYML_STACK``)."""
    from flowyml.config.loader import load_config

    return load_config(config_path).orchestrator(stack)
