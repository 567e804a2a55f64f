"""Run-level retries (``run_pipeline(retry_policy=...)``) on the local backend: real supervisor and
step-runner processes. A unit whose process dies outside any step is resumed by the waiting
process; a step that raised is retried in place by the step-runner, and never again on top."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from flowyml.core.errors import RunFailedError
from flowyml.core.retry_policy import OrchestratorRetryPolicy
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators.submission import SubmissionResult
from flowyml.stacks.local import LocalOrchestrator

ROOT = Path(__file__).parent.parent.parent
MODULE = "tests/core/retry_pipelines.py"


@pytest.fixture
def pipelines():
    sys.path.insert(0, str(ROOT))
    try:
        from tests.core import retry_pipelines
    finally:
        sys.path.remove(str(ROOT))
    return retry_pipelines


def executions(home: Path) -> list[str]:
    path = home / "executions.log"
    return path.read_text().split() if path.exists() else []


def kill_train(home: Path, times: int) -> None:
    home.mkdir(parents=True, exist_ok=True)
    for i in range(times):
        (home / f"kill-train-{i}").touch()


POLICY = OrchestratorRetryPolicy(max_attempts=3, initial_delay=0.2, multiplier=2.0)


def test_a_unit_that_died_is_resumed_and_what_completed_is_reused(flowyml_home, pipelines):
    kill_train(flowyml_home, 2)
    orchestrator = LocalOrchestrator()
    sub = orchestrator.run_pipeline(
        pipelines.killed, run_id="killed-1", pipeline_module=f"{MODULE}:killed", retry_policy=POLICY
    )
    assert sub.wait_for_completion(poll_interval=0.1) is ExecutionStatus.COMPLETED
    assert sub.attempts == ["killed-1", "killed-1-retry1", "killed-1-retry2"]
    assert sub.run_id == "killed-1-retry2" and sub.metadata["attempts"] == sub.attempts
    assert executions(flowyml_home) == ["load", "train", "train", "train"]  # load ran once: reused by each retry
    assert sub.get_output("model") == 6 and sub.get_output("rows") == [1, 2, 3]
    # each attempt is a run of its own in the registry: the first two FAILED, the last COMPLETED
    states = {r: orchestrator.get_run_status(r) for r in sub.attempts}
    assert states == {
        "killed-1": ExecutionStatus.FAILED,
        "killed-1-retry1": ExecutionStatus.FAILED,
        "killed-1-retry2": ExecutionStatus.COMPLETED,
    }
    assert orchestrator.get_run_details("killed-1-retry2")["resumed_from"] == "killed-1-retry1"


def test_attempts_stop_at_max_attempts_and_the_failure_is_reported(flowyml_home, pipelines):
    kill_train(flowyml_home, 5)
    policy = OrchestratorRetryPolicy(max_attempts=2, initial_delay=0.1)
    sub = LocalOrchestrator().run_pipeline(
        pipelines.killed, run_id="killed-2", pipeline_module=f"{MODULE}:killed", retry_policy=policy
    )
    with pytest.raises(RunFailedError) as failed:
        sub.wait_for_completion(poll_interval=0.1)
    assert failed.value.run_id == "killed-2-retry1" and sub.attempts == ["killed-2", "killed-2-retry1"]
    assert executions(flowyml_home) == ["load", "train", "train"]


def test_a_step_that_raised_is_retried_in_place_and_not_again_by_the_waiter(flowyml_home, pipelines):
    flowyml_home.mkdir(parents=True, exist_ok=True)
    (flowyml_home / "break-flaky").touch()
    policy = OrchestratorRetryPolicy(max_attempts=2, initial_delay=0.1)
    sub = LocalOrchestrator().run_pipeline(
        pipelines.failing, run_id="flaky-1", pipeline_module=f"{MODULE}:failing", retry_policy=policy
    )
    with pytest.raises(RunFailedError, match="flaky is broken"):
        sub.wait_for_completion(poll_interval=0.1)
    assert sub.attempts == ["flaky-1"]  # no resume on top of the step-runner's retries
    assert executions(flowyml_home) == ["load", "flaky", "flaky"]  # max_attempts=2 runs of the step in all


def test_without_a_policy_a_unit_that_died_fails_the_run(flowyml_home, pipelines):
    kill_train(flowyml_home, 1)
    sub = LocalOrchestrator().run_pipeline(pipelines.killed, run_id="killed-3", pipeline_module=f"{MODULE}:killed")
    assert sub.wait_for_completion(poll_interval=0.1, raise_on_failure=False) is ExecutionStatus.FAILED
    assert sub.attempts == ["killed-3"]


def test_a_process_that_reattaches_follows_the_retries_too(flowyml_home, pipelines):
    kill_train(flowyml_home, 1)
    sub = LocalOrchestrator().run_pipeline(
        pipelines.killed, run_id="killed-4", pipeline_module=f"{MODULE}:killed", retry_policy=POLICY
    )
    again = SubmissionResult.from_json(sub.to_json())  # the policy is read from the run's job spec
    assert again.wait_for_completion(poll_interval=0.1) is ExecutionStatus.COMPLETED
    assert again.attempts == ["killed-4", "killed-4-retry1"]
    # the first submission, waiting later, attaches to the same retry instead of submitting another
    assert sub.wait_for_completion(poll_interval=0.1) is ExecutionStatus.COMPLETED
    assert sub.attempts == ["killed-4", "killed-4-retry1"]
    assert executions(flowyml_home) == ["load", "train", "train"]


def test_the_async_wait_follows_the_retries(flowyml_home, pipelines):
    kill_train(flowyml_home, 1)
    sub = LocalOrchestrator().run_pipeline(
        pipelines.killed, run_id="killed-5", pipeline_module=f"{MODULE}:killed", retry_policy=POLICY
    )
    assert asyncio.run(sub.wait_async(poll_interval=0.1)) is ExecutionStatus.COMPLETED
    assert sub.attempts == ["killed-5", "killed-5-retry1"] and sub.get_output("model") == 6


def test_a_retry_that_would_not_fit_in_the_timeout_is_not_started(flowyml_home, pipelines):
    kill_train(flowyml_home, 1)
    policy = OrchestratorRetryPolicy(max_attempts=3, initial_delay=3600)
    sub = LocalOrchestrator().run_pipeline(
        pipelines.killed, run_id="killed-6", pipeline_module=f"{MODULE}:killed", retry_policy=policy
    )
    with pytest.raises(RunFailedError):
        sub.wait_for_completion(timeout=60, poll_interval=0.1)
    assert sub.attempts == ["killed-6"]


def test_the_block_on_the_resume_page_runs_as_it_says(flowyml_home, pipelines, capsys):
    page = (ROOT / "docs" / "resume.md").read_text()
    section = page.split("## Automatic retries of units that died", 1)[1]
    block = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert "initial_delay=60" in block
    kill_train(flowyml_home, 1)
    namespace = {"orchestrator": LocalOrchestrator(), "pipeline": pipelines.killed}
    exec(compile(block.replace("initial_delay=60", "initial_delay=0.1"), "docs/resume.md", "exec"), namespace)
    assert capsys.readouterr().out.strip() == "['nightly-1', 'nightly-1-retry1']"
    assert namespace["submission"].run_id == "nightly-1-retry1"
