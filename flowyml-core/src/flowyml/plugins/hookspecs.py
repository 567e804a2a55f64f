"""The flowyml plugin contract: every hook a backend plugin can implement.

A backend plugin is a module with ``@hookimpl`` functions, registered through the ``flowyml``
entry-point group (or ``PluginManager.register`` in code). Operations are dispatched by backend
name (submit, status, cancel, logs, details) or by URI scheme (storage): each of those hooks is
``firstresult`` — a plugin returns ``None`` for backends or schemes that are not its own, and the
first non-``None`` answer wins.

Rules for plugin authors (as in pytest): an implementation may accept fewer arguments than the
spec declares, and specs only ever gain new trailing arguments, so a plugin written today keeps
working. Import your cloud SDK inside the hook bodies, never at module level: registering a
plugin must stay cheap. Raise :class:`flowyml.core.errors.TransientBackendError` when the service
could not be reached after your retries, :class:`~flowyml.core.errors.RunNotFoundError` when the
job does not exist; never report ``FAILED`` for a job you could not look at.

Secrets: mark secret config fields ``attrs.field(metadata={"secret": True})`` and give them a
default read from the environment. flowyml never stores them (run handles, metadata, ``to_dict``)
and, when a run is re-attached from another process without its stack, rebuilds the config
without them — the environment default is then what supplies them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pluggy

from flowyml.plugins.types import BackendInfo, JobSpec, LogRecord, RunHandle, StatusReport, StoreInfo

hookspec = pluggy.HookspecMarker("flowyml")

#: Hook name -> the contract version that introduced it (a plugin implementing a hook unknown
#: to this core is warned about and skipped).
HOOK_VERSIONS = {
    "flowyml_register_backends": 1,
    "flowyml_register_stores": 1,
    "flowyml_submit": 1,
    "flowyml_status": 1,
    "flowyml_status_many": 1,
    "flowyml_cancel": 1,
    "flowyml_logs": 1,
    "flowyml_details": 1,
    "flowyml_storage": 1,
}


@hookspec
def flowyml_register_backends(register: Callable[[BackendInfo], None]) -> None:
    """Register the backends this plugin provides by calling ``register(BackendInfo(...))``.

    **When:** once, when the plugin manager loads plugins (first use of a backend, ``flowyml
    plugins``, loading ``flowyml.yaml``).

    One plugin may register several backends (flowyml-aws registers ``aws_batch`` and
    ``sagemaker``). ``BackendInfo.config_class`` is the attrs class a stack's ``orchestrator:``
    section is structured into; it must import without the cloud SDK. ``native_states`` is the
    backend's one state table (native state -> :class:`~flowyml.ExecutionStatus`), which the
    conformance kit checks state by state.

    .. versionadded:: 1
    """


@hookspec
def flowyml_register_stores(register: Callable[[StoreInfo], None]) -> None:
    """Register the artifact URI schemes this plugin materializes (``register(StoreInfo("s3"))``).

    **When:** with ``flowyml_register_backends``. Used for error messages and ``flowyml plugins``;
    the work itself is done by :func:`flowyml_storage`.

    .. versionadded:: 1
    """


@hookspec(firstresult=True)
def flowyml_submit(backend: str, spec: JobSpec, config: Any) -> RunHandle | None:
    """Start the run described by ``spec`` on ``backend`` and return its handle without waiting.

    **When:** ``RemoteOrchestrator.run_pipeline`` / ``flowyml run --stack``, after the job spec
    has been written to the artifact store at ``spec.spec_uri``.

    ``config`` is an instance of the backend's ``config_class``. Each unit of ``spec.units``
    runs ``spec.unit_command(unit)`` with ``spec.unit_env(unit)``; ``depends_on`` must become
    the service's own dependency mechanism where it has one. Submission must be idempotent:
    derive native job names from ``spec.run_id`` and, before creating, look for the job a
    previous (lost) attempt may have created. Return ``None`` if ``backend`` is not yours.

    .. versionadded:: 1
    """


@hookspec(firstresult=True)
def flowyml_status(handle: RunHandle, config: Any) -> StatusReport | None:
    """Report the run's status as the service sees it *now*.

    **When:** ``get_run_status``, ``wait_for_completion`` polling, ``flowyml status``.

    Map every native state through your one state table; put the remote error message in
    ``StatusReport.message`` and per-unit statuses in ``units``. Retry transient errors (throttling,
    5xx, timeouts) and raise ``TransientBackendError`` if they persist — never answer ``FAILED``
    for a job you could not see. Return ``None`` if ``handle.backend`` is not yours.

    .. versionadded:: 1
    """


@hookspec(firstresult=True)
def flowyml_status_many(backend: str, handles: list[RunHandle], config: Any) -> Mapping[str, StatusReport] | None:
    """Report many runs of one backend at once: ``{run_id: StatusReport}``. Optional.

    **When:** ``RemoteOrchestrator.get_run_statuses``, ``flowyml runs`` — whenever several runs of
    one backend are polled in the same round.

    Implement it when the service describes many jobs in one call (AWS Batch ``DescribeJobs``
    takes 100 ids), so polling N runs costs N / batch size calls instead of N. A run you leave out
    of the answer is asked again through :func:`flowyml_status`; a run the service no longer
    knows may be answered ``UNKNOWN`` with the reason, so one expired run does not hide the
    others. Same error rules as :func:`flowyml_status`. Return ``None`` if ``backend`` is not
    yours — flowyml then calls :func:`flowyml_status` once per run.

    .. versionadded:: 1
    """


@hookspec(firstresult=True)
def flowyml_cancel(handle: RunHandle, config: Any, graceful: bool) -> bool | None:
    """Ask the service to stop the run; return True if a cancel was requested, False if it had ended.

    **When:** ``stop_run``, ``flowyml cancel``, cancelling an awaiting asyncio task.

    Must be idempotent and aimed at the right resource type for each unit (queued vs running
    jobs, pipeline vs single jobs). The status reads ``STOPPING`` until the service confirms
    ``CANCELLED``. Return ``None`` if ``handle.backend`` is not yours.

    .. versionadded:: 1
    """


@hookspec(firstresult=True)
def flowyml_logs(
    handle: RunHandle, config: Any, cursor: str | None, follow: bool, poll_interval: float | None
) -> Iterator[LogRecord] | None:
    """Return an iterator of the run's log records, starting after ``cursor`` (``None``: the start).

    **When:** ``get_run_logs``, ``stream_logs``, ``flowyml logs [-f]``.

    Each record carries a ``cursor``; passing it back resumes right after that record, without
    duplicates or gaps. With ``follow=True`` the iterator keeps polling until the run has
    finished and every record has been yielded, waiting ``poll_interval`` seconds between polls
    (``None``: the backend's own default). Errors from the log service are raised
    (``TransientBackendError`` after retries), never yielded as log text. Return ``None`` if
    ``handle.backend`` is not yours.

    .. versionadded:: 1
    .. versionchanged:: 1 ``poll_interval`` (implementations may leave it out).
    """


@hookspec(firstresult=True)
def flowyml_details(handle: RunHandle, config: Any) -> Mapping[str, Any] | None:
    """Return a JSON-serialisable dict describing the run: native ids, states, timings, errors, console URLs.

    **When:** ``get_run_details``, ``flowyml status --details``. Never include secrets.
    Return ``None`` if ``handle.backend`` is not yours.

    .. versionadded:: 1
    """


@hookspec(firstresult=True)
def flowyml_storage(uri: str, settings: Mapping[str, Any]) -> Any | None:
    """Return a :class:`flowyml.artifacts.storage.Storage` rooted at ``uri`` — the materialize hook.

    **When:** whenever artifacts are written or read (``ArtifactStore``), in the submitting process
    and inside every step-runner. Dispatched by URI scheme: return ``None`` for schemes that are
    not yours.

    The storage moves bytes only; flowyml writes the manifest (type, serializer, size, sha256)
    itself, so every scheme gets the same checksums and the same atomicity rule: an object is
    visible whole or not at all, and ``create_only`` writes never replace an existing object.

    .. versionadded:: 1
    """
