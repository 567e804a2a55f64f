"""Logs from Cloud Logging: cursor (timestamp + insertId), follow without duplicates or gaps, typed errors."""

from __future__ import annotations

import threading
import time

import attrs
import pytest

from flowyml.core.errors import BackendError, TransientBackendError
from tests.gcp import gcp_pipelines as P
from tests.gcp.helpers import orchestrator


def _custom_job(fake, config, store_settings, run_id: str):  # type: ignore[no-untyped-def]
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.single, run_id=run_id)
    return orch, sub, sub.job_id.rsplit("/", 1)[-1]


def test_logs_are_the_jobs_entries_in_order_and_resume_after_a_cursor(fake, config, store_settings) -> None:
    orch, sub, job_id = _custom_job(fake, config, store_settings, "logs-cursor")
    for i in range(7):
        fake.add_entry(job_id, f"line {i}", severity="WARNING" if i == 3 else "INFO")
    fake.add_entry("999", "another job's line")
    fake.add_entry(job_id, json_payload={"message": "structured", "step": "answer"}, severity="ERROR")
    records = list(orch.iter_logs(sub.job_id))
    assert [r.message for r in records] == [f"line {i}" for i in range(7)] + ["structured"]
    assert records[3].severity == "WARNING" and records[-1].severity == "ERROR"
    assert all(r.unit == "answer" and r.cursor for r in records)
    assert [r.timestamp for r in records] == sorted(r.timestamp for r in records)
    for cut in (0, 3, 6):
        rest = list(orch.iter_logs(sub.job_id, cursor=records[cut].cursor))
        assert [r.message for r in rest] == [r.message for r in records[cut + 1 :]]
    assert list(orch.iter_logs(sub.job_id, cursor=records[-1].cursor)) == []
    flt = fake.calls("logs")[-1].body["filter"]
    assert f'resource.labels.job_id="{job_id}"' in flt and 'resource.type="ml_job"' in flt
    assert "timestamp>=" in flt  # always bounded: the API indexes on it


def test_entries_with_the_same_timestamp_are_ordered_by_insert_id(fake, config, store_settings) -> None:
    orch, sub, job_id = _custom_job(fake, config, store_settings, "logs-ties")
    stamp = fake.clock.now()
    for i in range(4):
        fake.add_entry(job_id, f"tie {i}", timestamp=stamp)
    records = list(orch.iter_logs(sub.job_id))
    assert [r.message for r in records] == [f"tie {i}" for i in range(4)]
    rest = list(orch.iter_logs(sub.job_id, cursor=records[1].cursor))
    assert [r.message for r in rest] == ["tie 2", "tie 3"]


def test_paged_results_are_read_whole(fake, config, store_settings, monkeypatch) -> None:
    from flowyml_gcp import logs

    monkeypatch.setattr(logs, "PAGE_SIZE", 3)
    orch, sub, job_id = _custom_job(fake, config, store_settings, "logs-pages")
    for i in range(8):
        fake.add_entry(job_id, f"p{i}")
    assert [r.message for r in orch.iter_logs(sub.job_id)] == [f"p{i}" for i in range(8)]
    assert len(fake.calls("logs")) == 3


def test_follow_streams_live_entries_once_each_until_the_job_ends(fake, config, store_settings) -> None:
    orch, sub, job_id = _custom_job(fake, config, store_settings, "logs-follow")
    fake.set_state(sub.job_id, "RUNNING")
    fake.add_entry(job_id, "before")

    def writer() -> None:
        for i in range(20):
            fake.add_entry(job_id, f"live {i}")
            time.sleep(0.01)
        fake.set_state(sub.job_id, "SUCCEEDED")
        fake.add_entry(job_id, "after the end")  # arrives while the reader finishes up

    thread = threading.Thread(target=writer)
    seen = []
    for record in orch.stream_logs(sub.job_id):
        seen.append(record.message)
        if record.message == "before":
            thread.start()
    thread.join()
    assert seen[0] == "before" and seen[1:21] == [f"live {i}" for i in range(20)]
    assert len(seen) == len(set(seen))  # no duplicates
    tail = list(orch.iter_logs(sub.job_id, cursor=None))
    assert [r.message for r in tail][: len(seen)] == seen  # no gaps


def test_follow_holds_back_entries_younger_than_the_settle_window(fake, config, store_settings) -> None:
    from flowyml_gcp.logs import read_logs

    _orch, sub, job_id = _custom_job(fake, config, store_settings, "logs-settle")
    fake.set_state(sub.job_id, "RUNNING")
    slow = attrs.evolve(config, log_settle_seconds=0.4, log_poll_interval=0.05)
    it = read_logs(sub.handle, slow, None, True)
    fake.add_entry(job_id, "fresh")
    started = time.monotonic()
    first = next(it)
    assert first.message == "fresh" and time.monotonic() - started >= 0.3
    fake.set_state(sub.job_id, "SUCCEEDED")
    assert list(it) == []


def test_logging_errors_are_raised_typed_never_returned_as_text(fake, config, store_settings) -> None:
    orch, sub, job_id = _custom_job(fake, config, store_settings, "logs-errors")
    fake.add_entry(job_id, "only line")
    with fake.faults_for("logs", 2):
        assert [r.message for r in orch.iter_logs(sub.job_id)] == ["only line"]
    with fake.faults_for("logs", 1000), pytest.raises(TransientBackendError):
        list(orch.iter_logs(sub.job_id))
    with fake.faults_for("logs", 1, status=400), pytest.raises(BackendError, match="Cloud Logging"):
        list(orch.iter_logs(sub.job_id))
    assert orch.get_run_logs(sub.job_id).endswith("only line")


def test_a_malformed_cursor_is_refused(fake, config, store_settings) -> None:
    orch, sub, _ = _custom_job(fake, config, store_settings, "logs-bad-cursor")
    with pytest.raises(BackendError, match="cursor"):
        list(orch.iter_logs(sub.job_id, cursor="not-a-cursor"))


def test_timestamps_normalise_to_nanoseconds() -> None:
    from flowyml_gcp.logs import normalize_ts, parse_cursor

    assert normalize_ts("2026-11-01T10:00:03.5Z") == "2026-11-01T10:00:03.500000000Z"
    assert normalize_ts("2026-11-01T10:00:03Z") == "2026-11-01T10:00:03.000000000Z"
    assert normalize_ts("2026-11-01T12:00:03.123456789+02:00") == "2026-11-01T10:00:03.123456789Z"
    assert parse_cursor("2026-11-01T10:00:03.5Z|abc") == ("2026-11-01T10:00:03.500000000Z", "abc")


def test_an_entry_ingested_late_within_the_settle_window_is_not_lost(fake, config, store_settings) -> None:
    """Cloud Logging may ingest an entry after a later-stamped one. Following holds entries back
    for the settle window, so the late one still comes out, in its place."""
    import datetime as dt

    from flowyml_gcp.logs import read_logs

    _orch, sub, job_id = _custom_job(fake, config, store_settings, "logs-late")
    fake.set_state(sub.job_id, "RUNNING")
    follow = attrs.evolve(config, log_settle_seconds=2.0, log_poll_interval=0.05)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(r.message for r in read_logs(sub.handle, follow, None, True)))
    first = fake.add_entry(job_id, "stamped second, ingested first")
    reader.start()
    time.sleep(0.3)  # the reader has polled a few times by now
    earlier = dt.datetime.strptime(first["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ") - dt.timedelta(milliseconds=50)
    fake.add_entry(job_id, "stamped first, ingested late", timestamp=earlier.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    time.sleep(2.2)
    fake.set_state(sub.job_id, "SUCCEEDED")
    reader.join(timeout=30)
    assert seen == ["stamped first, ingested late", "stamped second, ingested first"]
