"""``RemoteOrchestrator`` and ``SubmissionResult``: the seed API, implemented once over the hooks."""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar

import attrs

from flowyml.core.errors import ConfigError, FlowymlError, RunFailedError, RunTimedOutError, TransientBackendError
from flowyml.core.resources import DockerConfig, ResourceConfig
from flowyml.core.status import ExecutionStatus
from flowyml.plugins.types import LogRecord, RunHandle, StatusReport

log = logging.getLogger("flowyml.orchestrator")


def redact_config(config: Any) -> dict[str, Any]:
    """The config as a dict with every field marked ``metadata={"secret": True}`` removed."""
    if config is None:
        return {}
    if not attrs.has(type(config)):
        return dict(config)
    from flowyml.plugins.types import converter

    data = converter().unstructure(config)
    for field in attrs.fields(type(config)):
        if field.metadata.get("secret"):
            data.pop(field.name, None)
    return data


_SCALARS = {f"{t}{opt}" for t in ("str", "int", "float", "bool") for opt in ("", " | None")}


def structure_config(config_class: type, data: Mapping[str, Any], where: str = "config") -> Any:
    """A backend config from a mapping, with errors that name the key path.

    A config of plain scalar fields is built directly (cheap: re-attaching from the CLI should not
    import cattrs); anything else goes through the loader's cattrs converter.
    """
    fields = attrs.fields(config_class) if attrs.has(config_class) else ()
    names = {f.name for f in fields}
    if fields and set(data) <= names and all(str(f.type) in _SCALARS for f in fields):
        try:
            return config_class(**data)
        except (TypeError, ValueError):
            pass  # let cattrs produce the precise error below
    from flowyml.config.loader import structure

    return structure(config_class, dict(data), where)


class SubmissionResult:
    """A submitted run: ``job_id``, ``run_id``, ``metadata``, and ways to wait, watch and cancel it."""

    def __init__(
        self,
        handle: RunHandle,
        orchestrator: RemoteOrchestrator | None = None,
        wait_for_completion: Callable[[], Any] | None = None,
    ) -> None:
        self.handle = handle
        self._orchestrator = orchestrator
        self._custom_wait = wait_for_completion

    def __repr__(self) -> str:
        return f"SubmissionResult(job_id={self.job_id!r}, run_id={self.run_id!r}, backend={self.handle.backend!r})"

    @property
    def job_id(self) -> str:
        return self.handle.job_id

    @property
    def run_id(self) -> str:
        return self.handle.run_id

    @property
    def metadata(self) -> dict[str, Any]:
        return {"backend": self.handle.backend, "run_id": self.run_id, **self.handle.metadata}

    @property
    def orchestrator(self) -> RemoteOrchestrator:
        if self._orchestrator is None:
            self._orchestrator = RemoteOrchestrator.for_handle(self.handle)
        return self._orchestrator

    def to_json(self) -> str:
        """The run handle as JSON: ``SubmissionResult.from_json`` re-attaches from any process."""
        return self.handle.to_json()

    @classmethod
    def from_json(cls, text: str) -> SubmissionResult:
        return cls(RunHandle.from_json(text))

    def status(self) -> ExecutionStatus:
        return self.orchestrator.get_run_status(self.run_id)

    def report(self) -> StatusReport:
        return self.orchestrator.get_status_report(self.run_id)

    def cancel(self, graceful: bool = True) -> None:
        self.orchestrator.stop_run(self.run_id, graceful=graceful)

    def logs(self, follow: bool = False, cursor: str | None = None) -> Iterator[LogRecord]:
        return self.orchestrator.iter_logs(self.run_id, cursor=cursor, follow=follow)

    def wait_for_completion(
        self,
        timeout: float | None = None,
        poll_interval: float = 10.0,
        raise_on_failure: bool = True,
        cancel_on_timeout: bool = False,
        cancel_grace: float = 60.0,
    ) -> ExecutionStatus:
        """Poll (with backoff up to ``poll_interval``) until the run ends; return its final status.

        Raises :class:`RunFailedError` carrying the remote error if it failed or was cancelled
        (unless ``raise_on_failure=False``), and :class:`RunTimedOutError` (status TIMED_OUT) if
        ``timeout`` seconds pass first — the run goes on unless ``cancel_on_timeout``, which stops
        it and waits up to ``cancel_grace`` seconds for CANCELLED. Transient errors while polling
        are retried, never reported as a failure.
        """
        if self._custom_wait is not None and timeout is None:
            self._custom_wait()
        report = self._poll(timeout, poll_interval)
        if report is None:
            assert timeout is not None
            final, cancelled = None, False
            if cancel_on_timeout:
                try:
                    self.cancel()
                    cancelled = True
                    final = self._poll(cancel_grace, min(poll_interval, 0.5))
                except FlowymlError as exc:  # the timeout is still the news; the failed cancel is logged
                    log.warning("could not cancel run %s after its wait timed out: %s", self.run_id, exc)
            raise RunTimedOutError(self.run_id, timeout, cancelled=cancelled, final=final.status if final else None)
        if raise_on_failure and not report.status.is_successful:
            raise RunFailedError(self.run_id, report.status, report.message)
        return report.status

    def _poll(self, timeout: float | None, poll_interval: float) -> StatusReport | None:
        """The finished run's report, or None once ``timeout`` seconds have passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = min(0.2, poll_interval)
        while True:
            try:
                report = self.report()
            except TransientBackendError as exc:
                log.warning("status of %s unknown for now: %s", self.run_id, exc)
                report = None
            if report is not None and report.status.is_finished:
                return report
            if deadline is not None and time.monotonic() >= deadline:
                return None
            sleep = delay * random.uniform(0.8, 1.2)  # jitter: many waiters don't poll in lockstep
            if deadline is not None:
                sleep = max(0.0, min(sleep, deadline - time.monotonic()))
            time.sleep(sleep)
            delay = min(poll_interval, delay * 1.5)

    async def wait_async(
        self, timeout: float | None = None, poll_interval: float = 10.0, **kwargs: Any
    ) -> ExecutionStatus:
        """Async twin of :meth:`wait_for_completion` (see :mod:`flowyml.aio`)."""
        from flowyml.aio import wait_async

        return await wait_async(self, timeout=timeout, poll_interval=poll_interval, **kwargs)

    def get_output(self, name: str) -> Any:
        """Read one pipeline output back from the artifact store (after the run completed)."""
        return self.orchestrator.load_output(self.handle, name)

    def outputs(self) -> dict[str, Any]:
        return self.orchestrator.load_outputs(self.handle)


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
        docker_config: DockerConfig | None = None,
        resources: ResourceConfig | None = None,
        stack: str | None = None,
        registry: Any = None,
        plugin_manager: Any = None,
        pipeline_module: str | None = None,
    ) -> None:
        self.backend_name = backend or self.backend
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
        self.artifact_root = artifact_store or self.default_artifact_root()
        self.store_settings = dict(store_settings or {})
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
            config=_stack_config(handle) or handle.config,
            artifact_store=handle.artifact_root,
            store_settings=handle.metadata.get("store_settings"),
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
        return structure_config(info.config_class, handle.config, f"{handle.backend} config")

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
        **kwargs: Any,
    ) -> SubmissionResult:
        """Submit ``pipeline`` and return at once with a :class:`SubmissionResult`.

        Writes the job spec (and any ``inputs``) to the artifact store, calls the backend's
        submit hook, and records the run in the registry so any process can re-attach.
        """
        from flowyml.artifacts.store import ArtifactStore
        from flowyml.core.pipeline import new_run_id
        from flowyml.orchestrators.spec import PIPELINE_INPUT, build_job_spec

        if kwargs:
            unknown = ", ".join(sorted(kwargs))
            raise TypeError(f"run_pipeline() got unexpected arguments: {unknown}")
        runner = sys.modules.get("flowyml.runner")
        if runner is not None:
            runner.check_not_importing()
        run_id = run_id or new_run_id(pipeline.name)
        spec = build_job_spec(
            pipeline,
            run_id,
            self.artifact_root,
            inputs=inputs,
            context=context,
            resources=resources or self.resources,
            docker=docker_config or self.docker_config,
            pipeline_module=pipeline_module or self.pipeline_module,
            stack=self.stack,
            store_settings=self.store_settings,
            runner_command=self.runner_command(),
            timeout_seconds=timeout,
            labels=labels,
        )
        store = ArtifactStore(spec.artifact_root, self.store_settings)
        for name, value in (inputs or {}).items():
            store.save(value, f"runs/{run_id}/inputs/{name}", name=name, step=PIPELINE_INPUT)
        store.write_json(store.key_of(spec.spec_uri), spec.to_dict())
        handle = self.plugin_manager.submit(spec, self.backend_name, self.config)
        handle = handle.evolve(
            config=redact_config(self.config),
            artifact_root=spec.artifact_root,
            pipeline_name=pipeline.name,
            metadata={**handle.metadata, "store_settings": self.store_settings, "stack": self.stack},
        )
        self.registry.record(handle, stack=self.stack)
        log.info("submitted run %s to %s as %s", run_id, self.backend_name, handle.job_id)
        return SubmissionResult(handle, self)

    def get_status_report(self, job_id: str | RunHandle) -> StatusReport:
        """The backend's report now; for a failed run, the failing step's error is added to the message."""
        handle = self._handle(job_id)
        return self._recorded(handle, self.plugin_manager.status(handle, self._config_for(handle)))

    def _recorded(self, handle: RunHandle, report: StatusReport) -> StatusReport:
        """Add the failing step's error to a FAILED report and remember what the backend said."""
        if report.status is ExecutionStatus.FAILED:
            report = attrs.evolve(report, message=self._failure_message(handle, report.message))
        if report.status is not ExecutionStatus.UNKNOWN:
            self.registry.update_status(handle.run_id, report.status, report.message)
        return report

    def _run_store(self, handle: RunHandle) -> Any:
        """The artifact store the run wrote to."""
        from flowyml.artifacts.store import ArtifactStore

        return ArtifactStore(handle.artifact_root, handle.metadata.get("store_settings") or self.store_settings)

    def _failure_message(self, handle: RunHandle, native: str | None) -> str | None:
        """Join the service's reason with the step error the step-runner recorded, if any."""
        try:
            store = self._run_store(handle)
            for key in store.storage.list_keys(f"runs/{handle.run_id}/units"):
                doc = store.read_json(key)
                if not doc.get("success") and doc.get("error"):
                    step_error = doc["error"]
                    if native and step_error in native:
                        return native
                    return f"{native}; {step_error}" if native else step_error
        except Exception as exc:  # enrichment only: the service's own reason still stands
            log.warning("could not read the step error of %s: %s", handle.run_id, exc)
        return native

    def get_run_statuses(self, job_ids: Iterable[str | RunHandle]) -> dict[str, StatusReport]:
        """Reports for many runs at once (run id -> report), batched where the backend can
        (AWS Batch: one ``describe_jobs`` per 100 jobs). A run the service no longer knows may
        read UNKNOWN, with the reason, instead of hiding the others behind an error."""
        handles = [self._handle(j) for j in job_ids]
        groups: dict[tuple[str, str], list[RunHandle]] = {}
        for handle in handles:  # one batch per backend and config (runs in two regions: two batches)
            same_config = handle.backend == self.backend_name
            key = (handle.backend, "" if same_config else json.dumps(handle.config, sort_keys=True, default=str))
            groups.setdefault(key, []).append(handle)
        reports: dict[str, StatusReport] = {}
        for (backend, _), group in groups.items():
            answer = self.plugin_manager.status_many(backend, group, self._config_for(group[0]))
            for handle in group:
                reports[handle.run_id] = self._recorded(handle, answer[handle.run_id])
        return reports

    def get_run_status(self, job_id: str) -> ExecutionStatus:
        """The run's status now (by run id or job id)."""
        return self.get_status_report(job_id).status

    def stop_run(self, job_id: str, graceful: bool = True) -> None:
        """Request cancellation; the status reads STOPPING until the backend confirms CANCELLED."""
        handle = self._handle(job_id)
        self.plugin_manager.cancel(handle, self._config_for(handle), graceful)

    def iter_logs(
        self, job_id: str, cursor: str | None = None, follow: bool = False, poll_interval: float | None = None
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
        return details

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
        from flowyml.aio import submit_async

        return await submit_async(self, pipeline, run_id=run_id, **kwargs)

    async def get_run_status_async(self, job_id: str) -> ExecutionStatus:
        from flowyml.aio import get_run_status_async

        return await get_run_status_async(self, job_id)

    async def stop_run_async(self, job_id: str, graceful: bool = True) -> None:
        from flowyml.aio import stop_run_async

        await stop_run_async(self, job_id, graceful=graceful)

    def stream_logs_async(self, job_id: str, poll_interval: float | None = None) -> Any:
        """``async for record in orchestrator.stream_logs_async(job_id)``."""
        from flowyml.aio import stream_logs_async

        return stream_logs_async(self, job_id, poll_interval=poll_interval)

    # -- outputs -----------------------------------------------------------------------------
    def _run_spec(self, handle: RunHandle) -> tuple[Any, Any]:
        """(artifact store, job spec) of a submitted run."""
        from flowyml.plugins.types import JobSpec

        store = self._run_store(handle)
        return store, JobSpec.from_dict(store.read_json(f"runs/{handle.run_id}/job.json"))

    def load_output(self, handle: RunHandle, name: str) -> Any:
        store, spec = self._run_spec(handle)
        for unit in spec.units:
            if name in unit.outputs:
                return store.load_output(handle.run_id, unit.outputs[name], name)
        outputs = sorted(o for u in spec.units for o in u.outputs)
        raise KeyError(f"run {handle.run_id!r} has no output {name!r}; outputs: {outputs}")

    def load_outputs(self, handle: RunHandle) -> dict[str, Any]:
        store, spec = self._run_spec(handle)
        result = {}
        for unit in spec.units:
            for out, step_name in unit.outputs.items():
                key = store.output_key(handle.run_id, step_name, out)
                if store.exists(key):
                    result[out] = store.load(key)
        return result


def _stack_config(handle: RunHandle) -> Any:
    """The orchestrator config of the stack that submitted ``handle``, if flowyml.yaml still has it."""
    stack = handle.metadata.get("stack")
    if not stack:
        return None
    from flowyml.config.loader import load_config
    from flowyml.core.errors import ConfigError

    try:
        config = load_config()
        found = config.stacks.get(stack)
    except ConfigError as exc:
        log.warning("re-attaching %s without its stack %r: %s", handle.run_id, stack, exc)
        return None
    return found.orchestrator if found is not None and found.backend == handle.backend else None


def attach(run_id: str) -> SubmissionResult:
    """Re-attach to a run submitted from any process (looked up in the run registry)."""
    from flowyml.orchestrators.registry import RunRegistry

    return SubmissionResult(RunRegistry().get(run_id).handle)


def get_orchestrator(stack: str | None = None, config_path: str | None = None) -> RemoteOrchestrator:
    """The orchestrator of a stack from ``flowyml.yaml`` (``--stack`` / ``$FLOWYML_STACK``)."""
    from flowyml.config.loader import load_config

    return load_config(config_path).orchestrator(stack)
