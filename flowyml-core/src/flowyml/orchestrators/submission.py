"""``SubmissionResult``: a submitted run — wait for it, watch it, cancel it, read its outputs."""

from __future__ import annotations

__all__ = ["SubmissionResult"]

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from flowyml.core.errors import FlowymlError, RunFailedError, RunTimedOutError
from flowyml.core.status import ExecutionStatus
from flowyml.plugins.polling import poll_until
from flowyml.plugins.types import LogRecord, RunHandle, StatusReport

if TYPE_CHECKING:
    from flowyml.core.result import PipelineResult
    from flowyml.orchestrators.remote import RemoteOrchestrator

log = logging.getLogger("flowyml.orchestrator")


class SubmissionResult:
    """A submitted run: ``job_id``, ``run_id``, ``metadata``, and ways to wait, watch and cancel it.

    ``SubmissionResult(job_id, wait_for_completion=None, metadata=None)`` builds one FlowyML's way,
    for a job flowyml did not submit: it has a job id, metadata and ``wait()``, nothing else.
    """

    def __init__(
        self,
        handle: RunHandle | str,
        orchestrator: RemoteOrchestrator | Callable[[], Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        wait_for_completion: Callable[[], Any] | None = None,
        pipeline: Any = None,
    ) -> None:
        self._pipeline = pipeline  # set by run_pipeline: on_pipeline_end hooks run when a wait sees the end
        self._ended = False
        self._wait_fn = wait_for_completion
        self._extra: dict[str, Any] = dict(metadata or {})
        if callable(orchestrator) and not hasattr(orchestrator, "backend_name"):
            self._wait_fn, orchestrator = orchestrator, None  # FlowyML's (job_id, wait_for_completion, metadata)
        self._orchestrator: RemoteOrchestrator | None = orchestrator  # type: ignore[assignment]
        self._handle: RunHandle | None = None if isinstance(handle, str) else handle
        self._job_id = handle if isinstance(handle, str) else None
        self._attempts: list[str] = [] if self._handle is None else [self._handle.run_id]

    @property
    def handle(self) -> RunHandle:
        if self._handle is None:
            raise FlowymlError(
                f"job {self._job_id!r} was not submitted by flowyml: it has no run handle "
                "(status, logs, outputs and cancel need one; use orchestrator.run_pipeline or flowyml.attach)"
            )
        return self._handle

    def __repr__(self) -> str:
        backend = self._handle.backend if self._handle is not None else None
        return f"SubmissionResult(job_id={self.job_id!r}, run_id={self.run_id!r}, backend={backend!r})"

    @property
    def job_id(self) -> str:
        return self._handle.job_id if self._handle is not None else str(self._job_id)

    @property
    def run_id(self) -> str:
        return self._handle.run_id if self._handle is not None else str(self._job_id)

    @property
    def metadata(self) -> dict[str, Any]:
        """``backend`` and ``platform`` (the backend's name, as FlowyML calls it), ``run_id``, the handle's metadata."""
        if self._handle is None:
            return dict(self._extra)
        backend = self._handle.backend
        attempts = {"attempts": list(self._attempts)} if len(self._attempts) > 1 else {}
        return {
            "backend": backend,
            "platform": backend,
            "run_id": self.run_id,
            **attempts,
            **self._handle.metadata,
            **self._extra,
        }

    @property
    def attempts(self) -> list[str]:
        """The run ids this submission has followed: the run, then each retry of the run's retry policy."""
        return list(self._attempts)

    def wait(self, timeout: float | None = None) -> Any:
        """FlowyML's ``wait()``: block until the job ends (``wait_for_completion`` with defaults)."""
        if self._handle is None and self._wait_fn is None:
            raise RuntimeError(f"Cannot wait for job {self.job_id}: no wait function provided")
        return self.wait_for_completion(timeout=timeout)

    @property
    def orchestrator(self) -> RemoteOrchestrator:
        if self._orchestrator is None:
            from flowyml.orchestrators.remote import RemoteOrchestrator

            self._orchestrator = RemoteOrchestrator.for_handle(self.handle)
        return self._orchestrator

    def to_json(self) -> str:
        """The run handle as JSON: ``SubmissionResult.from_json`` re-attaches from any process."""
        return self.handle.to_json()

    @classmethod
    def from_json(cls, text: str) -> SubmissionResult:
        return cls(RunHandle.from_json(text))

    def status(self) -> ExecutionStatus:
        return self.report().status

    def report(self) -> StatusReport:
        return self.orchestrator.get_status_report(self.handle)

    def cancel(self, graceful: bool = True) -> None:
        self.orchestrator.stop_run(self.handle, graceful=graceful)

    def logs(self, follow: bool = False, cursor: str | None = None) -> Iterator[LogRecord]:
        return self.orchestrator.iter_logs(self.handle, cursor=cursor, follow=follow)

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

        A run submitted with a ``retry_policy`` whose unit died outside any step (killed, out of
        memory, preempted) is resumed after the policy's delay, within ``timeout``: this object
        then follows the retry (``run_id``, ``attempts``; see :mod:`flowyml.orchestrators.retries`).
        """
        if self._handle is None:
            if self._wait_fn is None:
                raise RuntimeError(f"Cannot wait for job {self.job_id}: no wait function provided")
            return self._wait_fn()
        if self._wait_fn is not None and timeout is None:
            self._wait_fn()
        from flowyml.orchestrators.retries import follow_retries

        report = follow_retries(self, lambda left: self._wait(left, poll_interval), timeout)
        if report is None:
            assert timeout is not None
            final, cancelled = None, False
            if cancel_on_timeout:
                try:
                    self.cancel()
                    cancelled = True
                    final = self._wait(cancel_grace, min(poll_interval, 0.5))
                except FlowymlError as exc:  # the timeout is still the news; the failed cancel is logged
                    log.warning("could not cancel run %s after its wait timed out: %s", self.run_id, exc)
            raise RunTimedOutError(self.run_id, timeout, cancelled=cancelled, final=final.status if final else None)
        self._run_end_hooks(report)
        if raise_on_failure and not report.status.is_successful:
            raise RunFailedError(self.run_id, report.status, report.message)
        return report.status

    def result(self, report: StatusReport | None = None) -> PipelineResult:
        """The run as a :class:`PipelineResult`: per-step results from the units' records (outputs: ``outputs()``)."""
        from flowyml.core.executor import ExecutionResult
        from flowyml.core.result import PipelineResult
        from flowyml.orchestrators.layout import read_unit_results

        report = report or self.report()
        steps: dict[str, ExecutionResult] = {}
        for unit in read_unit_results(self.orchestrator._run_store(self.handle), self.run_id).values():
            for s in unit.steps:
                steps[s.name] = ExecutionResult(
                    s.name,
                    s.success,
                    error=s.error,
                    duration_seconds=s.duration_seconds,
                    cached=s.cached,
                    skipped=s.skipped,
                    artifact_uris=dict(s.artifacts),
                )
        state = "completed" if report.status.is_successful else report.status.value
        return PipelineResult(
            self.handle.pipeline_name or "",
            self.run_id,
            steps,
            state=state,
            metadata=self.metadata,
            submission_result=self,
        )

    def _run_end_hooks(self, report: StatusReport) -> None:
        """``on_pipeline_end`` for a run this process submitted, once, when a wait sees it finished."""
        if self._pipeline is None or self._ended or not report.status.is_finished:
            return
        self._ended = True
        from flowyml.core.hooks import get_global_hooks, pipeline_ended

        if not get_global_hooks().on_pipeline_end:
            from flowyml.core import observability

            if observability.get_metrics_collector() is None:
                return
        try:
            result = self.result(report)
        except FlowymlError as exc:
            log.warning("run %s ended but its step results could not be read for the end hooks: %s", self.run_id, exc)
            return
        pipeline_ended(self._pipeline, result)

    def _follow(self, handle: RunHandle) -> None:
        """Follow ``handle`` from now on: the retry of the run this submission followed."""
        self._handle = handle
        self._attempts.append(handle.run_id)

    def _wait(self, timeout: float | None, poll_interval: float) -> StatusReport | None:
        return poll_until(
            self.report,
            lambda r: r.status.is_finished,
            timeout=timeout,
            poll_interval=poll_interval,
            what=f"status of {self.run_id}",
        )

    async def wait_async(
        self, timeout: float | None = None, poll_interval: float = 10.0, **kwargs: Any
    ) -> ExecutionStatus:
        """Async twin of :meth:`wait_for_completion` (see :mod:`flowyml.aio`)."""
        from flowyml.orchestrators.asyncops import wait_async

        return await wait_async(self, timeout=timeout, poll_interval=poll_interval, **kwargs)

    def get_output(self, name: str) -> Any:
        """Read one pipeline output back from the artifact store (after the run completed)."""
        return self.orchestrator.load_output(self.handle, name)

    def outputs(self) -> dict[str, Any]:
        return self.orchestrator.load_outputs(self.handle)
