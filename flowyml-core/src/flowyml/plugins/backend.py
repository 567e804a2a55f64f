"""``Backend``: the object a plugin registers for each backend it provides (contract v2).

A backend is a class with five operations. Core finds the registered object by name and calls
its methods; it owns dispatch, error wrapping, polling, log following and the run layout, so a
backend only talks to its service::

    class MyBackend(Backend):
        name = "mybackend"
        config_class = MyConfig

        def submit(self, spec, config): ...
        def status(self, handle, config): ...
        def cancel(self, handle, config, graceful): ...
        def logs(self, handle, config, cursor): ...

Operations added in later contract versions get a default here, so a backend written for an
older contract keeps working.
"""

from __future__ import annotations

__all__ = ["Backend", "NoConfig", "StorageFactory", "StoreRegistration"]

import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from flowyml.core.errors import FlowymlError
from flowyml.core.status import ExecutionStatus
from flowyml.plugins.schedules import NoSchedulesError, ScheduleInfo, ScheduleSpec
from flowyml.plugins.types import CONTRACT_VERSION, JobSpec, LogRecord, RunHandle, StatusReport

if TYPE_CHECKING:
    from flowyml.artifacts.storage import Storage

#: What ``flowyml_register_stores`` registers per URI scheme: ``factory(uri, settings)`` -> a
#: :class:`~flowyml.artifacts.storage.Storage` rooted at ``uri``.
StorageFactory = Callable[[str, Mapping[str, Any]], "Storage"]


@attrs.define(frozen=True)
class NoConfig:
    """The config class of a backend without settings."""


class Backend:
    """Base class of every backend (local, aws_batch, vertex_ai, ... and third-party ones).

    Class attributes describe the backend (``flowyml plugins`` shows them); methods do the work.
    ``config`` is always an instance of ``config_class``; a backend keeps no per-run state of
    its own: everything it needs later goes into the :class:`RunHandle` it returns from submit.
    """

    #: The name stacks use (``orchestrator: {type: <name>}``) and run handles carry.
    name: ClassVar[str] = ""
    #: The attrs class a stack's ``orchestrator:`` section is structured into (no SDK import).
    config_class: ClassVar[type] = NoConfig
    description: ClassVar[str] = ""
    #: What the backend can do, e.g. ``{"dag", "cancel", "logs", "details", "gpu", "parallel"}``.
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: The backend's one state table: native state -> ExecutionStatus (checked by the kit).
    native_states: ClassVar[Mapping[str, ExecutionStatus]] = {}
    #: The extra that installs it: ``pip install "flowyml[<extra>]"``.
    extra: ClassVar[str | None] = None
    #: Dotted path of the seed-compatible orchestrator class (``flowyml.stacks.aws.AWSBatchOrchestrator``).
    orchestrator: ClassVar[str | None] = None
    #: Jobs run on other machines: a ``file://`` artifact store is refused at submit unless the
    #: store's settings say ``shared: "true"`` (a mount every job sees).
    needs_remote_store: ClassVar[bool] = False
    #: Secret-reference schemes (``env``, ``aws-sm``, ...) the backend's jobs resolve, natively or in
    #: the step-runner at start-up with the job's identity; a reference of another scheme is
    #: refused at submit. ``env`` only where jobs share the submitting machine's environment.
    secret_schemes: ClassVar[frozenset[str]] = frozenset()
    #: The contract version the backend was written for.
    contract_version: ClassVar[int] = CONTRACT_VERSION

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend {self.name!r}>"

    def needs_remote_store_for(self, config: Any) -> bool:
        """:attr:`needs_remote_store` for this ``config``: override where it depends on the settings
        (a Ray cluster on this machine reads a ``file://`` store; one on other machines cannot)."""
        return self.needs_remote_store

    # -- the operations ------------------------------------------------------------------------
    def submit(self, spec: JobSpec, config: Any) -> RunHandle:
        """Start the run and return its handle without waiting.

        Each unit of ``spec.units`` runs ``spec.unit_command(unit)`` with ``spec.unit_env(unit)``
        merged into the job's environment; ``depends_on`` becomes the service's own dependency
        mechanism where it has one. Must be idempotent: derive native names from ``spec.run_id``
        and look for what a lost earlier attempt created before creating again.
        """
        raise NotImplementedError(f"backend {self.name!r} does not implement submit")

    def find(self, spec: JobSpec, config: Any) -> RunHandle | None:
        """The handle of what an earlier submit of ``spec`` created, or None — creating nothing.

        Core asks this to reconcile a run whose submitter died before the run registry held the
        backend's handle: the run is adopted, or recorded FAILED "submission interrupted". Use the
        same lookup as :meth:`submit`'s idempotency check. Without it, core asks :meth:`status`
        with a handle that has the run id but no native ids.
        """
        raise NotImplementedError(f"backend {self.name!r} does not implement find")

    def status(self, handle: RunHandle, config: Any) -> StatusReport:
        """The run's status as the service sees it now, mapped through ``native_states``.

        Put the service's error text in ``message`` and per-unit statuses in ``units`` (a unit
        that never started because a dependency failed reads CANCELLED). Raise
        ``TransientBackendError`` when the service cannot be reached — never answer FAILED for a
        job you could not see; ``RunNotFoundError`` when it does not know the run.
        """
        raise NotImplementedError(f"backend {self.name!r} does not implement status")

    def status_many(self, handles: list[RunHandle], config: Any) -> Mapping[str, StatusReport]:
        """Reports for many runs at once (run id -> report), for services that batch describes.

        Runs left out of the answer are asked one by one through :meth:`status`. The default
        answers none, so core asks every run one by one.
        """
        return {}

    def cancel(self, handle: RunHandle, config: Any, graceful: bool) -> bool:
        """Ask the service to stop the run: True if a cancel was requested, False if it had ended.

        Idempotent; aimed at the right resource for each unit. The status reads STOPPING until
        the service confirms CANCELLED.
        """
        raise NotImplementedError(f"backend {self.name!r} does not implement cancel")

    def logs(self, handle: RunHandle, config: Any, cursor: str | None) -> Iterable[LogRecord]:
        """One pass over the run's log records after ``cursor`` (``None``: from the start).

        Each record carries a ``cursor``; passed back, the next pass resumes right after that
        record without duplicates or gaps. Core follows (``logs -f``) by calling this again
        every :meth:`log_poll_interval` seconds until the run has ended, plus once more.
        """
        raise NotImplementedError(f"backend {self.name!r} does not implement logs")

    def details(self, handle: RunHandle, config: Any) -> Mapping[str, Any]:
        """A JSON-serialisable description: native ids, states, timings, console URLs; no secrets."""
        return {"run_id": handle.run_id, "job_id": handle.job_id, "platform": handle.backend, "units": handle.units}

    # -- native schedules (optional: capability ``schedules``) ---------------------------------
    def schedule_create(self, schedule: ScheduleSpec, config: Any) -> ScheduleInfo:
        """Create (or, for the same name, replace) a schedule the service fires on its own.

        Each firing runs :func:`flowyml.plugins.schedules.job_for_firing` of ``schedule.job`` at
        the fire time, so its run id is the schedule name plus the fire time (idempotent).
        """
        raise self._no_schedules()

    def schedule_list(self, config: Any) -> list[ScheduleInfo]:
        """Every flowyml schedule on the service, by name."""
        raise self._no_schedules()

    def schedule_pause(self, name: str, config: Any) -> ScheduleInfo:
        """Stop firing until resumed (``ScheduleNotFoundError`` for an unknown name)."""
        raise self._no_schedules()

    def schedule_resume(self, name: str, config: Any) -> ScheduleInfo:
        """Fire again from the next fire time after now (missed firings are not caught up)."""
        raise self._no_schedules()

    def schedule_delete(self, name: str, config: Any) -> bool:
        """Remove the schedule: True if it existed. Runs it started are kept."""
        raise self._no_schedules()

    def schedule_runs(self, name: str, config: Any) -> list[RunHandle]:
        """Handles of the runs the service's schedule started, for core to record in the run
        registry (``flowyml runs``). The default answers none: for backends whose firings are
        submitted through core (local), which records them itself."""
        return []

    def _no_schedules(self) -> NoSchedulesError:
        return NoSchedulesError(
            f"backend {self.name!r} has no native schedules (it lacks the 'schedules' capability): "
            "use a stack whose backend has them (e.g. local), or run the pipeline on a timer with "
            "flowyml.aio.PipelineRunner and a CronTrigger"
        )

    # -- knobs with defaults -------------------------------------------------------------------
    def log_poll_interval(self, config: Any) -> float:
        """Seconds between log passes while following (log APIs are throttled: not too often).

        ``$FLOWYML_LOG_POLL_INTERVAL`` overrides it for every backend; else the config's
        ``log_poll_interval`` field if it has one; else 2 s.
        """
        env = os.environ.get("FLOWYML_LOG_POLL_INTERVAL")
        if env:
            return float(env)
        return float(getattr(config, "log_poll_interval", None) or 2.0)

    def log_settle_seconds(self, config: Any) -> float:
        """How long to keep reading after the run ended, for log services that ingest late."""
        return 0.0

    def store_settings(self, config: Any, settings: Mapping[str, str]) -> dict[str, str]:
        """The artifact store's settings for runs on this backend, given the stack's.

        A backend may add what its config already says (e.g. the AWS region, so an ``s3://``
        store needs no second ``region``); the default passes them through.
        """
        return dict(settings)

    def translate_error(self, exc: BaseException, operation: str) -> FlowymlError | None:
        """Turn an SDK exception into a typed flowyml error (``AuthError``, ``RefusedError``, ...).

        Return None to let core wrap it in a ``BackendError`` naming the plugin and operation.
        """
        return None

    # -- introspection -------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """What ``flowyml plugins`` shows for this backend."""
        return {
            "name": self.name,
            "description": self.description,
            "config": f"{self.config_class.__module__}.{self.config_class.__qualname__}",
            "capabilities": sorted(self.capabilities),
            "native_states": {k: v.name for k, v in self.native_states.items()},
            "extra": self.extra,
            "orchestrator": self.orchestrator,
            "needs_remote_store": self.needs_remote_store,
            "secret_schemes": sorted(self.secret_schemes),
            "contract_version": self.contract_version,
        }


@attrs.define(frozen=True)
class StoreRegistration:
    """One artifact URI scheme and the factory that opens a store rooted at a URI of it."""

    scheme: str
    factory: StorageFactory
    description: str = ""
    extra: str | None = None
