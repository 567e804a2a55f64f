"""Cancel (STOPPING until Canceled is confirmed) and run details."""

from __future__ import annotations

from pathlib import Path

import az_pipelines
import pytest
from azfake_server import FakeAzureML
from azhelpers import file_root, orchestrator

from flowyml.core.errors import TransientBackendError
from flowyml.core.status import ExecutionStatus as S
from flowyml_azure.config import AzureMLConfig

pytestmark = pytest.mark.azure


def test_cancel_requests_then_confirms(fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.three_units, run_id="cancel-1")
    fake.set_state(sub.job_id, "Running")
    orch.stop_run(sub.job_id)
    cancel = fake.find("POST", r"/jobs/cancel-1/cancel$")
    assert len(cancel) == 1 and cancel[0].status == 202
    assert orch.get_run_status(sub.job_id) is S.STOPPING
    orch.stop_run(sub.job_id)  # already requested: no second POST
    assert len(fake.find("POST", r"/cancel$")) == 1
    fake.settle(sub.job_id)
    report = orch.get_status_report(sub.job_id)
    assert report.status is S.CANCELLED and set(report.units.values()) == {S.CANCELLED}
    assert not fake.find("GET", r"/fake/operations/"), "the cancel poller must not be waited on"


def test_cancel_of_a_finished_job_is_a_no_op(fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.ticking, run_id="cancel-2")
    fake.set_state(sub.job_id, "Completed")
    assert orch.plugin_manager.cancel(sub.handle, config) is False
    assert not fake.find("POST", r"/cancel$")
    assert orch.get_run_status(sub.job_id) is S.COMPLETED


def test_throttled_cancel_is_retried_by_flowyml(fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path) -> None:
    """azure-core never retries a POST answered 429 without Retry-After; flowyml does."""
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.ticking, run_id="cancel-3")
    fake.inject(429, 2, method="POST", path=r"/cancel$")
    fake.inject(503, 1, method="POST", path=r"/cancel$")
    orch.stop_run(sub.job_id)
    assert [r.status for r in fake.find("POST", r"/cancel$")] == [429, 429, 503, 202]
    assert orch.get_run_status(sub.job_id) is S.STOPPING
    with fake.faulted(fake.inject(503, 100, method="POST", path=r"/cancel$")):
        fake.set_state(sub.job_id, "Running")
        with pytest.raises(TransientBackendError):
            orch.stop_run(sub.job_id)
    assert orch.get_run_status(sub.job_id) is S.RUNNING


def test_details_show_status_timings_compute_studio_and_children(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.three_units, run_id="details-1")
    fake.execute(sub.job_id)
    details = orch.get_run_details(sub.job_id)
    assert details["status"] == "COMPLETED" and details["native_state"] == "Completed"
    assert details["job_type"] == "pipeline" and details["compute"] == "cpu-cluster"
    assert details["studio_url"].startswith(f"{fake.base_url}/studio/runs/details-1")
    assert details["started_at"] and details["ended_at"] and details["created_at"]
    assert details["experiment"] == "azure-three-units"
    assert list(details["children"]) == ["prepare", "train", "evaluate"]
    for unit, child in details["children"].items():
        assert child["node"] == unit and child["status"] == "COMPLETED" and child["compute"] == "cpu-cluster"
        assert child["child_run_id"].startswith(f"details-1_{unit}_") and child["started_at"] <= child["ended_at"]
    assert details["children"]["prepare"]["ended_at"] <= details["children"]["train"]["started_at"]
