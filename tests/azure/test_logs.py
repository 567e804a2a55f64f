"""Logs from run history's log files: cursor, follow live, child runs, faults; never printed."""

from __future__ import annotations

import time
from pathlib import Path

import az_pipelines
import pytest
from azfake_server import FakeAzureML
from azhelpers import file_root, orchestrator

from flowyml.core.errors import TransientBackendError
from flowyml_azure.config import AzureMLConfig

pytestmark = pytest.mark.azure


def test_pipeline_logs_come_from_each_child_run_in_unit_order(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.three_units, run_id="logs-1")
    assert list(orch.iter_logs(sub.job_id)) == []  # nothing has run yet
    fake.execute(sub.job_id)
    records = list(orch.iter_logs(sub.job_id))
    order = ["prepare", "train", "evaluate"]
    unit_seq = [order.index(r.unit) for r in records if r.unit]
    assert unit_seq == sorted(unit_seq), "each unit's records come in unit order"
    assert all(r.unit is None for r in records[len(unit_seq) :]), "then the pipeline's execution log"
    messages = {(r.unit, r.message) for r in records}
    assert ("prepare", "preparing 4 rows") in messages and ("train", "training on 4 rows") in messages
    assert ("evaluate", "evaluating") in messages
    assert any(r.unit is None and "node train Completed" in r.message for r in records)  # execution log
    step_line = next(r for r in records if r.message.startswith("unit prepare started"))
    assert step_line.severity == "INFO" and abs(step_line.timestamp - time.time()) < 120
    # Resume from every cursor: exactly the rest, no duplicates, no gaps.
    for i in (0, 3, len(records) - 2):
        rest = list(orch.iter_logs(sub.job_id, cursor=records[i].cursor))
        assert [(r.unit, r.message) for r in rest] == [(r.unit, r.message) for r in records[i + 1 :]]
    assert list(orch.iter_logs(sub.job_id, cursor=records[-1].cursor)) == []
    assert capsys.readouterr().out == "", "logs must never be printed behind the user's back"
    assert not fake.find("GET", r"/jobs/logs-1/.*stream")


def test_follow_streams_a_running_job_until_it_ends(fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.ticking, run_id="follow-1")
    fake.set_state(sub.job_id, "Queued")
    thread = fake.execute(sub.job_id, background=True)
    seen: list[tuple[float, str]] = []
    for record in orch.iter_logs(sub.job_id, follow=True):
        seen.append((time.monotonic(), record.message))
    assert thread is not None
    thread.join(30)
    ticks = [(t, m) for t, m in seen if m.startswith("tick ")]
    assert [m for _, m in ticks] == [f"tick {i}" for i in range(5)]
    assert ticks[-1][0] - ticks[0][0] > 0.6, "records arrived at once: the log was not followed live"
    assert seen[-1][1] == "unit ticker completed"
    assert len(fake.find("GET", r"/runs/follow-1/details$")) > 3


def test_log_reads_survive_transient_faults(fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.three_units, run_id="logs-2")
    fake.execute(sub.job_id)
    expected = [r.message for r in orch.iter_logs(sub.job_id)]
    fake.inject(503, 1, method="GET", path=r"/details$")
    fake.inject(429, 1, method="GET", path=r"/children$", retry_after=0)
    fake.inject(None, 2, method="GET", path=r"^/logs/")
    assert [r.message for r in orch.iter_logs(sub.job_id)] == expected
    assert all(f.hits == f.times for f in fake.faults)
    with fake.faulted(fake.inject(503, 100, method="GET", path=r"^/logs/")), pytest.raises(TransientBackendError):
        list(orch.iter_logs(sub.job_id))


def test_a_partial_last_line_waits_until_the_run_ends(fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.ticking, run_id="partial-1")
    fake.set_state(sub.job_id, "Running")
    run = fake.jobs[sub.job_id].run
    run.write("first line\nsecond li")
    first = list(orch.iter_logs(sub.job_id))
    assert [r.message for r in first] == ["first line"]
    run.write("ne\n")
    assert [r.message for r in orch.iter_logs(sub.job_id, cursor=first[-1].cursor)] == ["second line"]
    run.write("no newline at the end")
    fake.set_state(sub.job_id, "Completed")
    assert [r.message for r in orch.iter_logs(sub.job_id)][-1] == "no newline at the end"


def test_ranged_reads_work_on_real_blob_sas_urls(azurite, config: AzureMLConfig) -> None:
    """Run history's logFiles are SAS URLs into Blob Storage: the reader's ranges, checked on Azurite."""
    import datetime as dt

    from azfake_infra import AZURITE_ACCOUNT, AZURITE_KEY
    from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

    from flowyml_azure.runhistory import RunHistory

    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client("azureml")
    if not container.exists():
        container.create_container()
    name = "ExperimentRun/dcid.sas-1/user_logs/std_log.txt"
    container.upload_blob(name, b"line one\nline two\n", overwrite=True)
    sas = generate_blob_sas(
        AZURITE_ACCOUNT,
        "azureml",
        name,
        account_key=AZURITE_KEY,
        permission=BlobSasPermissions(read=True),
        expiry=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1),
    )
    url = f"{azurite.blob_endpoint}/azureml/{name}?{sas}"
    reader = RunHistory(config)
    assert reader.read_from(url, 0) == b"line one\nline two\n"
    assert reader.read_from(url, 9) == b"line two\n"
    assert reader.read_from(url, 18) == b""  # at the end: 416 from Blob Storage means "nothing new"
