"""Run-level retries of a remote run (``run_pipeline(..., retry_policy=...)``), built on resume.

The step-runner retries a step that *raised* in place, with the policy's backoff (the policy
travels in the job's environment). What it cannot retry is a unit whose job died outside any
step — killed, out of memory, preempted, its machine lost. The process waiting for the run
does that: when the run ends in one of the policy's ``retry_on_status`` states with such a unit,
it waits the policy's delay and resumes the run (a new run, ``<run id>-retry<n>``, that reuses
every unit that completed), up to ``max_attempts`` runs in all. A failure the step-runner
already retried is not retried again, so attempts never multiply.
"""

from __future__ import annotations

__all__ = ["RetryDecision", "died_units", "follow_retries", "follow_retries_async", "next_attempt", "policy_of"]

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from flowyml.aio.threads import run_blocking
from flowyml.core.errors import FlowymlError, RunNotFoundError
from flowyml.core.names import is_valid_name
from flowyml.orchestrators.layout import read_unit_results

if TYPE_CHECKING:
    from flowyml.core.retry_policy import OrchestratorRetryPolicy
    from flowyml.orchestrators.submission import SubmissionResult
    from flowyml.plugins.types import JobSpec, RunHandle, StatusReport

#: waits for the followed run to end within the seconds given (None: no limit); None if they ran out
Wait = Callable[[float | None], "StatusReport | None"]
WaitAsync = Callable[[float | None], Awaitable["StatusReport | None"]]

log = logging.getLogger("flowyml.orchestrator")

#: labels of a retry's run: the first run of the chain, and which attempt this run is
FIRST_RUN_LABEL = "flowyml-retry-of"
ATTEMPT_LABEL = "flowyml-attempt"


@attrs.define(frozen=True)
class RetryDecision:
    """Resume ``source`` (the run that ended) as ``run_id`` after ``delay`` seconds: attempt number
    ``attempt`` (1-based) of the chain that began with run ``first_run``, for the ``units`` that died."""

    run_id: str
    delay: float
    attempt: int
    units: tuple[str, ...]
    first_run: str
    source: JobSpec


def policy_of(spec: JobSpec) -> OrchestratorRetryPolicy | None:
    """The retry policy a run was submitted with (it travels in the job's environment)."""
    from flowyml.core.retry_policy import ENV_VAR, OrchestratorRetryPolicy

    return OrchestratorRetryPolicy.from_env(spec.env) if ENV_VAR in spec.env else None


def died_units(store: Any, spec: JobSpec) -> list[str]:
    """Units of a finished run that failed outside any step: their dependencies completed, and
    they wrote no result or a result with no failed step (so the step-runner could not retry them)."""
    results = read_unit_results(store, spec.run_id)
    done = {r.unit.name for r in spec.reused} | {name for name, r in results.items() if r.success}
    died = []
    for unit in spec.units:
        result = results.get(unit.name)
        if unit.name in done or not all(d in done for d in unit.depends_on):
            continue
        if result is None or not any(not s.success and not s.skipped for s in result.steps):
            died.append(unit.name)
    return died


def attempt_number(spec: JobSpec) -> int:
    """How many runs the chain ending in ``spec`` has had (1 for the first, 2 after one retry, ...)."""
    return int(spec.labels.get(ATTEMPT_LABEL, "1"))


def next_attempt(submission: SubmissionResult, report: StatusReport) -> RetryDecision | None:
    """Whether (and as what) the run ``submission`` follows gets another attempt, now that it ended ``report``."""
    if not report.status.is_finished or report.status.is_successful:
        return None
    store, spec = submission.orchestrator._run_spec(submission.handle)
    policy = policy_of(spec)
    attempt = attempt_number(spec)
    if policy is None or not policy.should_retry(report.status, attempt):
        return None
    died = died_units(store, spec)
    if not died:
        return None  # a step failed: the step-runner already retried it as the policy says
    first = spec.labels.get(FIRST_RUN_LABEL) or spec.run_id
    run_id = f"{first}-retry{attempt}"
    if not is_valid_name(run_id):
        run_id = f"{spec.run_id[:40]}-retry{attempt}"
    return RetryDecision(run_id, policy.delay(attempt), attempt + 1, tuple(died), first, spec)


def follow_retries(submission: SubmissionResult, wait: Wait, timeout: float | None) -> StatusReport | None:
    """Wait for the run; while the retry policy gives it another attempt, pause, resume it and wait
    for that. The final report, or None when ``timeout`` (for all attempts) ran out first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    report = wait(timeout)
    while report is not None and (decision := _decide(submission, report, deadline)) is not None:
        time.sleep(decision.delay)
        if not _resubmit(submission, decision):
            break
        report = wait(_left(deadline))
    return report


async def follow_retries_async(
    submission: SubmissionResult, wait: WaitAsync, timeout: float | None
) -> StatusReport | None:
    """The async twin of :func:`follow_retries` (the policy's reads and submits in threads)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    report = await wait(timeout)
    while report is not None and (decision := await run_blocking(_decide, submission, report, deadline)) is not None:
        await asyncio.sleep(decision.delay)
        if not await run_blocking(_resubmit, submission, decision):
            break
        report = await wait(_left(deadline))
    return report


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _decide(submission: SubmissionResult, report: StatusReport, deadline: float | None) -> RetryDecision | None:
    """The policy's next attempt of a run that just ended, if it gets one in the time left."""
    try:
        decision = next_attempt(submission, report)
    except FlowymlError as exc:
        log.warning("run %s ended %s; its retry policy could not be read: %s", submission.run_id, report.status, exc)
        return None
    if decision is not None and deadline is not None and time.monotonic() + decision.delay >= deadline:
        log.warning("run %s ended %s; no time is left in this wait for its retry", submission.run_id, report.status)
        return None
    return decision


def _resubmit(submission: SubmissionResult, decision: RetryDecision) -> bool:
    """Resume the run as ``decision.run_id`` (or attach to it, if another waiter already did) and
    have ``submission`` follow it; False (logged) if it could not be submitted."""
    from flowyml.orchestrators.resume import plan_resume

    orchestrator = submission.orchestrator
    try:
        try:
            handle: RunHandle = orchestrator.registry.get(decision.run_id).handle
        except RunNotFoundError:  # the run that ended is read already: plan from it, no second look
            store = orchestrator._run_store(submission.handle)
            plan = plan_resume(store, decision.source, decision.run_id)
            labels = {**plan.spec.labels, FIRST_RUN_LABEL: decision.first_run, ATTEMPT_LABEL: str(decision.attempt)}
            log.warning(
                "run %s: unit(s) %s died outside any step; attempt %d of its retry policy runs as %s",
                submission.run_id,
                ", ".join(decision.units),
                decision.attempt,
                decision.run_id,
            )
            handle = orchestrator.submit_spec(attrs.evolve(plan.spec, labels=labels)).handle
    except FlowymlError as exc:
        log.warning("run %s: its retry %s could not be submitted: %s", submission.run_id, decision.run_id, exc)
        return False
    submission._follow(handle)
    return True
