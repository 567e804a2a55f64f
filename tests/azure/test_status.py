"""Status: every Azure ML state, failure messages from run history, transient errors never FAILED."""

from __future__ import annotations

import re
import time
from pathlib import Path

import az_pipelines
import pytest
from azfake_server import FakeAzureML
from azhelpers import file_root, orchestrator

from flowyml.core.errors import RunFailedError, RunNotFoundError, TransientBackendError
from flowyml.core.status import ExecutionStatus as S
from flowyml.plugins.types import RunHandle
from flowyml_azure.config import AzureMLConfig
from flowyml_azure.jobs import status as azure_status
from flowyml_azure.states import NATIVE_STATES, to_status

pytestmark = pytest.mark.azure

EXPECTED = {
    "NotStarted": S.PENDING,
    "Starting": S.PROVISIONING,
    "Provisioning": S.PROVISIONING,
    "Preparing": S.PROVISIONING,
    "Queued": S.QUEUED,
    "Running": S.RUNNING,
    "Finalizing": S.RUNNING,
    "CancelRequested": S.STOPPING,
    "Completed": S.COMPLETED,
    "Failed": S.FAILED,
    "Canceled": S.CANCELLED,
    "NotResponding": S.UNKNOWN,
    "Paused": S.UNKNOWN,
    "Unknown": S.UNKNOWN,
}


def test_the_table_covers_every_azure_ml_job_status() -> None:
    # the SDK's own REST enum (private module: this test pins the azure-ai-ml version it was written on)
    from azure.ai.ml._restclient.arm_ml_service.models import JobStatus

    assert NATIVE_STATES == EXPECTED
    assert {s.value for s in JobStatus} <= set(NATIVE_STATES)
    assert to_status("SomethingNew") is S.UNKNOWN and to_status(None) is S.UNKNOWN


@pytest.mark.parametrize("pipeline", ["command", "pipeline"])
def test_every_state_is_reported_as_the_table_says(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path, pipeline: str
) -> None:
    target = az_pipelines.three_units if pipeline == "pipeline" else az_pipelines.ticking
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(target, run_id=f"states-{pipeline}")
    for native, expected in EXPECTED.items():
        fake.set_state(sub.job_id, native)
        report = orch.get_status_report(sub.job_id)
        assert (report.status, report.native_state) == (expected, native)
        assert set(report.units.values()) == {expected}, report.units
        assert (report.message is not None) == (expected is S.FAILED)


def test_a_pipeline_reports_each_unit_from_its_child_run(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.three_units, run_id="units-1")
    assert orch.get_status_report(sub.job_id).units == dict.fromkeys(["prepare", "train", "evaluate"], S.PENDING)
    fake.set_state(sub.job_id, "Running")
    job = fake.jobs[sub.job_id]
    job.children["prepare"].status = "Completed"
    job.children["evaluate"].status = "Queued"
    report = orch.get_status_report(sub.job_id)
    assert report.units == {"prepare": S.COMPLETED, "train": S.RUNNING, "evaluate": S.QUEUED}


def test_units_come_back_in_the_handles_own_order_without_order_metadata(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    """The registry keeps a handle's units in insertion order, so a handle carries no ``unit_order``
    (issue 18: dead metadata); one recorded before, with it, still reads the same."""
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.three_units, run_id="order-1")
    declared = ["prepare", "train", "evaluate"]  # not sorted: an order only the handle can keep
    recorded = orch.registry.get(sub.run_id).handle
    assert not {"unit_order", "order"} & set(recorded.metadata), recorded.metadata
    assert list(recorded.units) == declared
    fake.set_state(sub.job_id, "Completed")
    assert list(orch.get_status_report(sub.job_id).units) == declared
    assert list(orch.get_run_details(sub.job_id)["children"]) == declared
    legacy = RunHandle.from_dict({**recorded.to_dict(), "metadata": {**recorded.metadata, "unit_order": declared}})
    assert list(azure_status(legacy, config).units) == declared


def test_a_failed_step_error_from_run_history_reaches_the_user(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.three_units, run_id="fail-1")
    fake.set_state(sub.job_id, "Running")
    job = fake.jobs[sub.job_id]
    job.children["prepare"].status = "Completed"
    job.children["train"].status = "Failed"
    job.children["train"].error = {"code": "UserError", "message": "ZeroDivisionError: division by zero in train"}
    job.children["evaluate"].status = "Canceled"
    job.run.status = job.props["status"] = "Failed"
    job.run.error = {"code": "UserError", "message": "Pipeline has some failed steps. Failed nodes: /train"}
    report = orch.get_status_report(sub.job_id)
    assert report.status is S.FAILED
    assert report.message == "unit train: ZeroDivisionError: division by zero in train"
    with pytest.raises(RunFailedError, match="ZeroDivisionError: division by zero in train"):
        sub.wait_for_completion(timeout=5, poll_interval=0.05)


def test_a_failed_command_job_reports_its_run_history_error(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.ticking, run_id="fail-2")
    fake.set_state(sub.job_id, "Failed", error={"code": "UserError", "message": "CUDA out of memory"})
    assert orch.get_status_report(sub.job_id).message == "CUDA out of memory"
    with fake.faulted(fake.inject(503, 100, method="GET", path=r"/details$")):
        report = orch.get_status_report(sub.job_id)  # the state is known even when its error text is not
    assert report.status is S.FAILED and "could not be read from run history" in (report.message or "")


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 429, "retry_after": 0.05},
        {"status": 503},
        {"status": 500},
        {"status": None},
    ],
    ids=["429-retry-after", "503", "500", "dropped"],
)
def test_transient_errors_on_get_are_retried(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path, fault: dict
) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.ticking, run_id="flaky-1")
    fake.set_state(sub.job_id, "Running")
    fake.inject(fault["status"], 2, method="GET", path=r"/jobs/flaky-1$", retry_after=fault.get("retry_after"))
    started = time.monotonic()
    assert orch.get_run_status(sub.job_id) is S.RUNNING
    assert [r.status for r in fake.find("GET", r"/jobs/flaky-1$")][-3:] == [fault["status"] or 0] * 2 + [200]
    if fault.get("retry_after"):
        assert time.monotonic() - started >= 2 * fault["retry_after"], "Retry-After was not honoured"


def test_persistent_errors_raise_transient_never_failed(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.three_units, run_id="down-1")
    fake.set_state(sub.job_id, "Running")
    for path in (r"/jobs/down-1$", r"/children$"):
        fault = fake.inject(503, 100, method="GET", path=path)
        with fake.faulted(fault), pytest.raises(TransientBackendError):
            orch.get_run_status(sub.job_id)
    assert orch.registry.get(sub.run_id).status is not S.FAILED
    assert orch.get_run_status(sub.job_id) is S.RUNNING


def test_an_unknown_job_is_run_not_found(fake: FakeAzureML, config: AzureMLConfig) -> None:
    handle = RunHandle(backend="azureml", run_id="ghost", job_id="ghost", units={"u": "ghost"})
    with pytest.raises(RunNotFoundError, match="ghost"):
        azure_status(handle, config)


def test_many_runs_are_polled_with_the_tag_filtered_job_list(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    """status_many: ceil(N / page size) list calls for N runs; only the failed run (whose error text
    lives in run history) and the lost one are asked one by one. A running pipeline's units live in
    run history too: the round gives its state without them, as Vertex's list does."""
    fake.list_page_size = 3
    orch = orchestrator(config, file_root(tmp_path))
    singles = [orch.run_pipeline(az_pipelines.ticking, run_id=f"many-{i}") for i in range(6)]
    pipeline = orch.run_pipeline(az_pipelines.three_units, run_id="many-p")
    fake.jobs["stranger"] = fake.jobs["many-0"].__class__(
        "stranger", {"name": "stranger", "properties": {"tags": {}}}, fake.jobs["many-0"].run
    )  # not flowyml's: the tag filter keeps it out of the list
    states = ["Completed", "Running", "Queued", "Failed", "NotStarted", "Canceled"]
    for sub, state in zip(singles, states, strict=True):
        fake.set_state(sub.job_id, state)
    fake.set_state(pipeline.job_id, "Running")
    fake.jobs["many-p"].children["prepare"].status = "Completed"
    fake.execute(singles[0].job_id)
    ghost = RunHandle(backend="azureml", run_id="many-gone", job_id="many-gone", units={"ticker": "many-gone"})
    before = len(fake.requests)
    reports = orch.get_run_statuses([*(s.run_id for s in [*singles, pipeline]), ghost])
    during = fake.requests[before:]
    lists = [r for r in during if r.method == "GET" and r.path.endswith("/jobs")]
    assert len(lists) == 3 and all(r.query.get("tag") == "flowyml.run_id" for r in lists)  # ceil(8 / 3)
    gets = sorted(r.path.rsplit("/", 1)[-1] for r in during if re.search(r"/jobs/[^/]+$", r.path))
    assert gets == ["many-3", "many-gone"], "only the failed run and the lost one are asked alone"
    assert reports["many-gone"].status is S.UNKNOWN and "many-gone" in (reports["many-gone"].message or "")
    for sub in [*singles, pipeline]:  # the same answers as asking each run
        one = orch.get_status_report(sub.job_id)
        got = reports[sub.run_id]
        assert (got.status, got.native_state) == (one.status, one.native_state)
        assert got.units == ({} if sub is pipeline else one.units)
    assert reports["many-0"].status is S.COMPLETED and reports["many-5"].status is S.CANCELLED
    assert reports["many-3"].status is S.FAILED and reports["many-3"].message
    assert reports["many-p"].status is S.RUNNING and reports["many-p"].units == {}
    assert orch.get_status_report("many-p").units == {"prepare": S.COMPLETED, "train": S.RUNNING, "evaluate": S.RUNNING}


def test_polling_many_runs_survives_a_throttled_list(fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    subs = [orch.run_pipeline(az_pipelines.ticking, run_id=f"thr-{i}") for i in range(3)]
    fault = fake.inject(429, 1, method="GET", path=r"/jobs$", retry_after=0)
    reports = orch.get_run_statuses([s.run_id for s in subs])
    assert fault.hits == 1 and {r.status for r in reports.values()} == {S.PENDING}
    assert not [r for r in fake.find("GET", r"/jobs/thr-\d$") if r.status == 200], "no run was asked alone"


def test_a_round_over_unfinished_pipelines_costs_only_the_list_calls(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    """Polling N multi-unit runs: ceil(N / page size) list calls and nothing else (no job GET, no
    run history), whatever their state but FAILED."""
    fake.list_page_size = 2
    orch = orchestrator(config, file_root(tmp_path))
    subs = [orch.run_pipeline(az_pipelines.three_units, run_id=f"pipes-{i}") for i in range(5)]
    for sub, state in zip(subs, ["Running", "Running", "Queued", "Completed", "CancelRequested"], strict=True):
        fake.set_state(sub.job_id, state)
    before = len(fake.requests)
    reports = orch.get_run_statuses([s.run_id for s in subs])
    during = [f"{r.method} {r.path}" for r in fake.requests[before:]]
    assert len(during) == 3 and all(r.startswith("GET ") and r.endswith("/jobs") for r in during), during
    units = ["prepare", "train", "evaluate"]
    assert {r: (reports[r].status, reports[r].units) for r in reports} == {
        "pipes-0": (S.RUNNING, {}),
        "pipes-1": (S.RUNNING, {}),
        "pipes-2": (S.QUEUED, dict.fromkeys(units, S.PENDING)),
        "pipes-3": (S.COMPLETED, dict.fromkeys(units, S.COMPLETED)),
        "pipes-4": (S.STOPPING, {}),
    }
