"""Status (every native state, state by state), transient faults, not-found, cancel and details."""

from __future__ import annotations

import time

import attrs
import pytest

from flowyml.core.errors import RunNotFoundError, TransientBackendError
from flowyml.core.status import ExecutionStatus as S
from flowyml_gcp.states import JOB_STATES, PIPELINE_STATES, TASK_STATES
from tests.gcp import gcp_pipelines as P
from tests.gcp.helpers import orchestrator

EXPECTED_JOB = {
    "JOB_STATE_UNSPECIFIED": S.UNKNOWN,
    "JOB_STATE_QUEUED": S.QUEUED,
    "JOB_STATE_PENDING": S.PROVISIONING,
    "JOB_STATE_RUNNING": S.RUNNING,
    "JOB_STATE_SUCCEEDED": S.COMPLETED,
    "JOB_STATE_FAILED": S.FAILED,
    "JOB_STATE_CANCELLING": S.STOPPING,
    "JOB_STATE_CANCELLED": S.CANCELLED,
    "JOB_STATE_PAUSED": S.PENDING,
    "JOB_STATE_EXPIRED": S.TIMED_OUT,
    "JOB_STATE_UPDATING": S.RUNNING,
    "JOB_STATE_PARTIALLY_SUCCEEDED": S.FAILED,
}
EXPECTED_PIPELINE = {
    "PIPELINE_STATE_UNSPECIFIED": S.UNKNOWN,
    "PIPELINE_STATE_QUEUED": S.QUEUED,
    "PIPELINE_STATE_PENDING": S.PROVISIONING,
    "PIPELINE_STATE_RUNNING": S.RUNNING,
    "PIPELINE_STATE_SUCCEEDED": S.COMPLETED,
    "PIPELINE_STATE_FAILED": S.FAILED,
    "PIPELINE_STATE_CANCELLING": S.STOPPING,
    "PIPELINE_STATE_CANCELLED": S.CANCELLED,
    "PIPELINE_STATE_PAUSED": S.PENDING,
}


def test_the_tables_cover_every_state_the_sdk_knows() -> None:
    from google.cloud.aiplatform_v1.types import job_state, pipeline_job, pipeline_state

    assert set(JOB_STATES) == set(job_state.JobState.__members__) == set(EXPECTED_JOB)
    assert set(PIPELINE_STATES) == set(pipeline_state.PipelineState.__members__) == set(EXPECTED_PIPELINE)
    assert set(TASK_STATES) == set(pipeline_job.PipelineTaskDetail.State.__members__)


@pytest.mark.parametrize(("native", "expected"), sorted(EXPECTED_JOB.items()))
def test_custom_job_state(fake, config, store_settings, native, expected) -> None:
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.single, run_id=f"cj-{native.lower().replace('_', '-')}")
    fake.set_state(sub.job_id, native)
    report = orch.get_status_report(sub.job_id)
    assert (report.status, report.native_state) == (expected, native)
    assert report.units == {"answer": expected}


@pytest.mark.parametrize(("native", "expected"), sorted(EXPECTED_PIPELINE.items()))
def test_pipeline_job_state(fake, config, store_settings, native, expected) -> None:
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.dag4, run_id=f"pj-{native.lower().replace('_', '-')}")
    fake.set_state(sub.job_id, native)
    report = orch.get_status_report(sub.job_id)
    assert (report.status, report.native_state) == (expected, native)


@pytest.mark.parametrize(("native", "expected"), sorted(TASK_STATES.items()))
def test_pipeline_task_state_is_the_unit_status(fake, config, store_settings, native, expected) -> None:
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.dag4, run_id=f"task-{native.lower().replace('_', '-')}")
    fake.set_state(sub.job_id, "RUNNING")
    train = sub.handle.metadata["tasks"]["train"]
    with fake.lock:
        for td in fake.jobs[sub.job_id]["jobDetail"]["taskDetails"]:
            if td["taskName"] == train:
                td["state"] = native
    assert orch.get_status_report(sub.job_id).units["train"] is expected


def test_units_whose_task_has_not_started_are_pending(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.dag4, run_id="no-tasks-yet")
    with fake.lock:
        fake.jobs[sub.job_id]["jobDetail"]["taskDetails"] = []
    assert set(orch.get_status_report(sub.job_id).units.values()) == {S.PENDING}


def test_a_failed_job_reports_the_service_error(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.single, run_id="failed-msg")
    with fake.lock:
        fake.jobs[sub.job_id]["_error"] = "The replica workerpool0-0 ran out of memory."
    fake.set_state(sub.job_id, "FAILED")
    report = orch.get_status_report(sub.job_id)
    assert report.status is S.FAILED and "ran out of memory" in (report.message or "")


def test_status_rides_out_transient_errors_and_never_says_failed(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.dag4, run_id="flaky-get")
    fake.set_state(sub.job_id, "RUNNING")
    for status in (429, 500, 503, 504):
        with fake.faults_for("status", 2, status=status):
            assert orch.get_run_status(sub.job_id) is S.RUNNING
    with fake.faults_for("status", 1000), pytest.raises(TransientBackendError):
        orch.get_run_status(sub.job_id)
    assert orch.registry.get(sub.run_id).status != S.FAILED.value


def test_a_job_that_does_not_exist_is_run_not_found(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.single, run_id="vanished")
    with fake.lock:
        fake.jobs.pop(sub.job_id)
    with pytest.raises(RunNotFoundError):
        orch.get_run_status(sub.job_id)


def test_cancel_a_pipeline_job_hits_the_pipeline_resource(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.dag4, run_id="cancel-pj")
    fake.set_state(sub.job_id, "RUNNING")
    orch.stop_run(sub.job_id)
    [cancel] = fake.calls("cancel")
    assert cancel.path == f"/v1/{sub.job_id}:cancel" and "/pipelineJobs/" in cancel.path
    assert fake.jobs[sub.job_id]["state"] == "PIPELINE_STATE_CANCELLING"
    assert orch.get_run_status(sub.job_id) is S.CANCELLED  # the fake confirms on the next GET
    orch.stop_run(sub.job_id)  # idempotent: a finished run is not cancelled again
    assert len(fake.calls("cancel")) == 1


def test_cancel_a_custom_job_hits_the_custom_job_resource(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.single, run_id="cancel-cj")
    fake.plan(sub.job_id, ["RUNNING"])
    with fake.faults_for("cancel", 2):
        orch.stop_run(sub.job_id)
    cancels = fake.calls("cancel")
    assert [c.status for c in cancels] == [503, 503, 200]
    assert all("/customJobs/" in c.path for c in cancels)
    with fake.lock:
        fake.plans[sub.job_id] = []  # Vertex has not confirmed yet
    assert orch.get_run_status(sub.job_id) is S.STOPPING
    fake.set_state(sub.job_id, "CANCELLED")
    assert orch.get_run_status(sub.job_id) is S.CANCELLED


def test_cancel_racing_the_end_of_the_job_is_not_an_error(fake, config, store_settings) -> None:
    from flowyml_gcp.jobs import cancel

    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.single, run_id="cancel-race")
    fake.plan(sub.job_id, ["RUNNING", "SUCCEEDED"])  # our GET sees RUNNING; then the job ends
    with fake.faults_for("cancel", 1, status=400):
        assert cancel(sub.handle, config) is False


def test_a_pipeline_past_its_timeout_is_cancelled_and_reported_timed_out(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.dag4, run_id="too-slow", timeout=0.2)
    fake.set_state(sub.job_id, "RUNNING")
    time.sleep(0.3)
    report = orch.get_status_report(sub.job_id)
    assert report.status is S.STOPPING and "timeout" in (report.message or "")
    assert len(fake.calls("cancel")) == 1
    report = orch.get_status_report(sub.job_id)
    assert report.status is S.TIMED_OUT and report.native_state == "PIPELINE_STATE_CANCELLED"


def test_details_of_a_failed_custom_job(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    single = orch.run_pipeline(P.single, run_id="details-2")
    fake.set_state(single.job_id, "FAILED")
    d = orch.get_run_details(single.job_id)
    assert d["kind"] == "custom_job" and d["state"] == "JOB_STATE_FAILED" and d["status"] == "FAILED"
    assert d["error"]["message"] == "fake: the job failed" and d["end_time"]
    assert d["labels"]["flowyml-run"] == "details-2"
    assert d["console_url"].startswith("https://console.cloud.google.com/vertex-ai/locations/us-central1/training/")
    with fake.faults_for("status", 1000), pytest.raises(TransientBackendError):
        orch.get_run_details(single.job_id)  # an error, never a dict holding an error string


def test_handles_from_the_registry_use_the_stored_config(fake, config, store_settings) -> None:
    from flowyml import attach

    orch = orchestrator(attrs.evolve(config, labels={"env": "test"}), store_settings)
    sub = orch.run_pipeline(P.single, run_id="attach-1")
    fake.set_state(sub.job_id, "RUNNING")
    again = attach("attach-1")
    assert again.job_id == sub.job_id and again.status() is S.RUNNING


def test_status_many_lists_the_runs_instead_of_getting_each(fake, config, store_settings, monkeypatch) -> None:
    """N runs cost ceil(N / page) list calls per resource type (filtered by the run-key label), not N GETs."""
    from flowyml_gcp import jobs

    monkeypatch.setattr(jobs, "LIST_PAGE_SIZE", 3)
    orch = orchestrator(config, store_settings)
    singles = [orch.run_pipeline(P.single, run_id=f"many-cj-{i}") for i in range(7)]
    pipelines = [orch.run_pipeline(P.dag4, run_id=f"many-pj-{i}") for i in range(4)]
    states = ["RUNNING", "SUCCEEDED", "FAILED", "QUEUED"]
    for group in (singles, pipelines):
        for i, sub in enumerate(group):
            fake.set_state(sub.job_id, states[i % 4])
    fake.reset_requests()
    reports = orch.get_run_statuses([s.run_id for s in singles + pipelines])
    lists = fake.calls("list")
    assert [c.path.rsplit("/", 1)[-1] for c in lists] == ["customJobs"] * 3 + ["pipelineJobs"] * 2
    assert not fake.calls("get")  # nobody was asked one by one
    assert lists[0].query["filter"][0].count(" OR ") == 2 and "labels.flowyml-run-key=" in lists[0].query["filter"][0]
    expected = {"RUNNING": S.RUNNING, "SUCCEEDED": S.COMPLETED, "FAILED": S.FAILED, "QUEUED": S.QUEUED}
    for group in (singles, pipelines):
        for i, sub in enumerate(group):
            assert reports[sub.run_id].status is expected[states[i % 4]], sub.run_id
    assert reports["many-cj-0"].units == {"answer": S.RUNNING}
    # a PipelineJob's task states are not in the list view: a running one says nothing of its units
    assert reports["many-pj-0"].units == {}
    assert set(reports["many-pj-1"].units.values()) == {S.COMPLETED}
    assert set(reports["many-pj-3"].units.values()) == {S.PENDING}
    assert "fake: the job failed" in (reports["many-pj-2"].message or "")


def test_status_many_asks_for_what_the_list_misses_and_a_gone_run_hides_no_other(fake, config, store_settings):
    orch = orchestrator(config, store_settings)
    kept = orch.run_pipeline(P.single, run_id="listed-1")
    vanished = orch.run_pipeline(P.single, run_id="listed-2")
    fake.set_state(kept.job_id, "RUNNING")
    with fake.lock:
        fake.jobs.pop(vanished.job_id)
    fake.reset_requests()
    reports = orch.get_run_statuses(["listed-1", "listed-2"])
    assert reports["listed-1"].status is S.RUNNING
    assert reports["listed-2"].status is S.UNKNOWN and "no CustomJob" in (reports["listed-2"].message or "")
    assert len(fake.calls("list")) == 1 and len(fake.calls("get")) == 1  # the missing one, asked itself


def test_status_many_rides_out_transient_list_errors(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    subs = [orch.run_pipeline(P.single, run_id=f"flaky-list-{i}") for i in range(3)]
    for sub in subs:
        fake.set_state(sub.job_id, "RUNNING")
    fake.reset_requests()
    with fake.faults_for("list", 2, status=503):
        reports = orch.get_run_statuses([s.run_id for s in subs])
    assert {r.status for r in reports.values()} == {S.RUNNING}
    assert [c.status for c in fake.calls("list")] == [503, 503, 200]


@pytest.mark.parametrize("task_names", ["key", "display"])
def test_units_with_underscores_are_found_by_dag_key_or_display_name(fake, config, store_settings, task_names):
    """`taskName` may carry the DAG key (`load-data`) or the display name (`load_data`): both are read."""
    fake.task_names = task_names
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.underscored, run_id=f"underscored-{task_names}")
    assert sub.handle.metadata["tasks"] == {"load_data": "load-data", "train_model": "train-model"}
    fake.set_state(sub.job_id, "RUNNING")
    names = {"key": "load-data", "display": "load_data"}
    with fake.lock:
        for td in fake.jobs[sub.job_id]["jobDetail"]["taskDetails"]:
            if td["taskName"] == names[task_names]:
                td["state"] = "SUCCEEDED"
    report = orch.get_status_report(sub.job_id)
    assert report.units == {"load_data": S.COMPLETED, "train_model": S.RUNNING}  # never PENDING while running


def test_flowyml_runs_polls_vertex_runs_with_list_calls(fake, config, store_settings, tmp_path, monkeypatch) -> None:
    import json
    import subprocess
    import sys
    from pathlib import Path

    monkeypatch.setenv("FLOWYML_HOME", str(tmp_path / "home"))  # a registry holding only these runs
    orch = orchestrator(config, store_settings)
    subs = [orch.run_pipeline(P.single, run_id=f"cli-runs-{i}") for i in range(3)]
    subs.append(orch.run_pipeline(P.dag4, run_id="cli-runs-dag"))
    for sub in subs:
        fake.set_state(sub.job_id, "RUNNING")
    fake.reset_requests()
    flowyml = Path(sys.executable).parent / "flowyml"
    proc = subprocess.run([str(flowyml), "runs", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert {r["run_id"]: r["status"] for r in json.loads(proc.stdout)} == {s.run_id: "RUNNING" for s in subs}
    assert sorted(c.path.rsplit("/", 1)[-1] for c in fake.calls("list")) == ["customJobs", "pipelineJobs"]
    assert not fake.calls("get")
