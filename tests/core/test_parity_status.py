"""ExecutionStatus as FlowyML has it, and the seed-contract details FlowyML code relies on."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from flowyml import ConfigError, ExecutionStatus, PipelineDefinitionError, RunFailedError, SubmissionResult
from flowyml.core.hooks import get_global_hooks, on_pipeline_start
from flowyml.core.retry_policy import OrchestratorRetryPolicy
from flowyml.plugins.types import LogRecord

S = ExecutionStatus


@pytest.fixture
def parity_pipelines(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import parity_pipelines

    return parity_pipelines


# -- 6. ExecutionStatus ---------------------------------------------------------------------------
def test_values_are_lowercase_and_old_upper_case_values_still_parse():
    assert S("running") is S.RUNNING and S.COMPLETED.value == "completed" and S.TIMED_OUT.value == "timed_out"
    assert S("COMPLETED") is S.COMPLETED and S("Cancelled") is S.CANCELLED and S(" TIMED_OUT ") is S.TIMED_OUT
    assert S.RUNNING == "running" and str(S.RUNNING) == "ExecutionStatus.RUNNING" and S.FAILED.label == "FAILED"
    with pytest.raises(ValueError):
        S("sideways")
    for name in ("INITIALIZING", "CACHED", "STOPPED", "CANCELLING", "DEAD", "PENDING", "QUEUED", "UNKNOWN"):
        assert S[name].value == name.lower()


def test_finished_successful_failed_and_active():
    successful = {S.COMPLETED, S.CACHED}
    failed = {S.FAILED, S.STOPPED, S.CANCELLED, S.TIMED_OUT, S.DEAD}
    for status in S:
        assert status.is_successful == (status in successful)
        assert status.is_failed == (status in failed)
        assert status.is_finished == (status in successful | failed)
        assert status.is_active == (not status.is_finished and status is not S.UNKNOWN)


def test_an_old_registry_row_and_state_file_still_read(tmp_path, parity_pipelines):
    from flowyml.orchestrators.registry import RunRegistry
    from flowyml.stacks.local import LocalOrchestrator

    sub = LocalOrchestrator().run_pipeline(parity_pipelines.plain)
    sub.wait_for_completion(timeout=60, poll_interval=0.2)
    registry = RunRegistry()
    assert registry.get(sub.run_id).status is S.COMPLETED
    with sqlite3.connect(registry.path) as db:  # as flowyml 0.x wrote it
        assert db.execute("SELECT status FROM runs WHERE run_id=?", (sub.run_id,)).fetchone() == ("completed",)
        db.execute("UPDATE runs SET status='COMPLETED' WHERE run_id=?", (sub.run_id,))
    assert RunRegistry().get(sub.run_id).status is S.COMPLETED

    from flowyml.backends.local import paths

    state_file = paths.run_dir(sub.run_id) / "state.json"
    state = json.loads(state_file.read_text())
    state["status"] = "COMPLETED"
    state["units"] = {k: v.upper() for k, v in state["units"].items()}
    state_file.write_text(json.dumps(state))
    assert sub.status() is S.COMPLETED


def test_the_cli_shows_upper_case_names(parity_pipelines, capsys):
    from flowyml.cli.main import main
    from flowyml.stacks.local import LocalOrchestrator

    sub = LocalOrchestrator().run_pipeline(parity_pipelines.plain)
    sub.wait_for_completion(timeout=60, poll_interval=0.2)
    assert main(["status", sub.run_id]) == 0
    assert "COMPLETED" in capsys.readouterr().out
    assert main(["status", sub.run_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "COMPLETED"


def test_run_failed_errors_name_the_status():
    assert str(RunFailedError("r1", S.FAILED, "boom")) == "run 'r1' ended FAILED: boom"


# -- 8. seed-contract details -----------------------------------------------------------------------
def test_config_and_definition_errors_are_value_errors():
    assert issubclass(ConfigError, ValueError) and issubclass(PipelineDefinitionError, ValueError)
    from flowyml.stacks.local import LocalOrchestrator

    with pytest.raises(ValueError):
        LocalOrchestrator(max_parallel=-1).validate()


def test_log_records_answer_as_dicts_too():
    record = LogRecord(timestamp=0.5, message="hello", severity="WARNING", unit="train")
    assert record["message"] == "hello" and record["severity"] == "WARNING" and record["step"] == "train"
    assert record["timestamp"] == "1970-01-01T00:00:00.500Z" and record["is_finished"] is False
    assert record.get("nope", 1) == 1
    with pytest.raises(KeyError):
        record["nope"]


def test_submission_result_in_flowyml_form():
    calls = []
    result = SubmissionResult("job-1", lambda: calls.append("waited"), {"region": "eu"})
    assert result.job_id == "job-1" and result.metadata == {"region": "eu"} and result.run_id == "job-1"
    result.wait()
    result.wait_for_completion()
    assert calls == ["waited", "waited"]
    keyword = SubmissionResult("job-2", wait_for_completion=lambda: calls.append("kw"))
    keyword.wait()
    assert calls[-1] == "kw"
    with pytest.raises(RuntimeError, match="Cannot wait for job job-3: no wait function provided"):
        SubmissionResult("job-3").wait()
    with pytest.raises(Exception, match="not submitted by flowyml"):
        SubmissionResult("job-3").status()


def test_a_submitted_run_reports_its_platform_version_and_calls_the_start_hooks(parity_pipelines):
    from flowyml.stacks.local import LocalOrchestrator

    started = []
    on_pipeline_start(lambda pipeline: started.append(pipeline.name))
    pipeline = parity_pipelines.plain
    try:
        pipeline.version = "2.0.1"
        sub = LocalOrchestrator().run_pipeline(pipeline)
    finally:
        pipeline.version = None
        get_global_hooks().clear()
    assert sub.metadata["platform"] == "local" and sub.metadata["pipeline_version"] == "2.0.1"
    assert started == ["parity-plain"]
    sub.wait()
    assert sub.get_output("total") == 3


def test_a_retry_policy_travels_to_the_step_runner(parity_pipelines, tmp_path, monkeypatch):
    from flowyml.stacks.local import LocalOrchestrator

    monkeypatch.setenv("PARITY_FLAKY_DIR", str(tmp_path))
    orchestrator = LocalOrchestrator()
    failing = orchestrator.run_pipeline(parity_pipelines.flaky)
    with pytest.raises(RunFailedError, match="the first attempt fails"):
        failing.wait_for_completion(timeout=60, poll_interval=0.2)
    (tmp_path / "attempted").unlink()
    policy = OrchestratorRetryPolicy(max_attempts=2, initial_delay=0.1)
    sub = orchestrator.run_pipeline(parity_pipelines.flaky, retry_policy=policy)
    sub.wait_for_completion(timeout=60, poll_interval=0.2)
    assert sub.get_output("flaky") == "ok"
    # and from Pipeline.run
    (tmp_path / "attempted").unlink()
    result = parity_pipelines.flaky.run(orchestrator=orchestrator, retry_policy=policy)
    assert result.submission_result.wait_for_completion(timeout=60, poll_interval=0.2) is S.COMPLETED
