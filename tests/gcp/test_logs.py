"""Logs from Cloud Logging: cursor (timestamp + insertId), one entries:list per pass for every unit,
follow (core's) without duplicates or gaps, entries held back for the settle window, typed errors."""

from __future__ import annotations

import threading
import time

import attrs
import pytest

from flowyml.core.errors import AuthError, RefusedError, TransientBackendError
from flowyml.plugins.cursors import CursorError
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
    assert f'resource.labels.job_id=("{job_id}")' in flt and 'resource.type="ml_job"' in flt
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


def test_a_pass_holds_back_entries_younger_than_the_settle_window(fake, config, store_settings) -> None:
    """No cursor is handed out past an entry Cloud Logging may still ingest; core's passes during the
    settle window after the end return what was held back."""
    orch, sub, job_id = _custom_job(fake, attrs.evolve(config, log_settle_seconds=0.4), store_settings, "logs-settle")
    fake.set_state(sub.job_id, "RUNNING")
    fake.add_entry(job_id, "fresh")
    assert list(orch.iter_logs(sub.job_id)) == []  # younger than the window: not yet
    assert "timestamp<=" in fake.calls("logs")[-1].body["filter"]
    time.sleep(0.5)
    [first] = orch.iter_logs(sub.job_id)
    assert first.message == "fresh"
    fake.add_entry(job_id, "last words")
    fake.set_state(sub.job_id, "SUCCEEDED")
    started = time.monotonic()
    assert [r.message for r in orch.iter_logs(sub.job_id, cursor=first.cursor, follow=True)] == ["last words"]
    assert time.monotonic() - started >= 0.3  # read during the settle window after the end


def test_logging_errors_are_raised_typed_never_returned_as_text(fake, config, store_settings) -> None:
    orch, sub, job_id = _custom_job(fake, config, store_settings, "logs-errors")
    fake.add_entry(job_id, "only line")
    with fake.faults_for("logs", 2):
        assert [r.message for r in orch.iter_logs(sub.job_id)] == ["only line"]
    with fake.faults_for("logs", 1000), pytest.raises(TransientBackendError):
        list(orch.iter_logs(sub.job_id))
    with fake.faults_for("logs", 1, status=400), pytest.raises(RefusedError, match="Cloud Logging refused") as info:
        list(orch.iter_logs(sub.job_id))
    assert "\n" not in str(info.value)
    with fake.faults_for("logs", 1, status=403), pytest.raises(AuthError, match=r"roles/logging\.viewer"):
        list(orch.iter_logs(sub.job_id))
    assert orch.get_run_logs(sub.job_id).endswith("only line")


def test_throttled_reads_back_off_and_honour_retry_after(fake, config, store_settings) -> None:
    orch, sub, job_id = _custom_job(fake, config, store_settings, "logs-429")
    fake.add_entry(job_id, "only line")
    with fake.faults_for("logs", 2, status=429, retry_after=0):
        assert [r.message for r in orch.iter_logs(sub.job_id)] == ["only line"]
    assert [r.status for r in fake.calls("logs")] == [429, 429, 200]


def test_a_malformed_cursor_is_refused(fake, config, store_settings) -> None:
    orch, sub, _ = _custom_job(fake, config, store_settings, "logs-bad-cursor")
    for bad in ("not-a-cursor", '{"ts": "yesterday", "id": "1"}', "[1, 2]"):
        with pytest.raises(CursorError, match="vertex_ai log cursor"):
            list(orch.iter_logs(sub.job_id, cursor=bad))


def test_timestamps_normalise_to_nanoseconds() -> None:
    from flowyml_gcp.logs import make_cursor, normalize_ts, parse_cursor

    assert normalize_ts("2026-11-01T10:00:03.5Z") == "2026-11-01T10:00:03.500000000Z"
    assert normalize_ts("2026-11-01T10:00:03Z") == "2026-11-01T10:00:03.000000000Z"
    assert normalize_ts("2026-11-01T12:00:03.123456789+02:00") == "2026-11-01T10:00:03.123456789Z"
    assert parse_cursor(make_cursor(("2026-11-01T10:00:03.5Z", "abc"))) == ("2026-11-01T10:00:03.500000000Z", "abc")


def test_an_entry_ingested_late_within_the_settle_window_is_not_lost(fake, config, store_settings) -> None:
    """Cloud Logging may ingest an entry after a later-stamped one. Following holds entries back
    for the settle window, so the late one still comes out, in its place."""
    import datetime as dt

    orch, sub, job_id = _custom_job(
        fake, attrs.evolve(config, log_settle_seconds=2.0, log_poll_interval=0.05), store_settings, "logs-late"
    )
    fake.set_state(sub.job_id, "RUNNING")
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(r.message for r in orch.iter_logs(sub.job_id, follow=True)))
    first = fake.add_entry(job_id, "stamped second, ingested first")
    reader.start()
    time.sleep(0.3)  # the reader has polled a few times by now
    earlier = dt.datetime.strptime(first["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ") - dt.timedelta(milliseconds=50)
    fake.add_entry(job_id, "stamped first, ingested late", timestamp=earlier.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    time.sleep(2.2)
    fake.set_state(sub.job_id, "SUCCEEDED")
    reader.join(timeout=30)
    assert seen == ["stamped first, ingested late", "stamped second, ingested first"]


def _started_pipeline(fake, config, store_settings, run_id: str):  # type: ignore[no-untyped-def]
    """A dag4 PipelineJob whose four tasks have started: unit -> the id of its task's CustomJob."""
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.dag4, run_id=run_id)
    fake.set_state(sub.job_id, "RUNNING")
    job_ids = {}
    for i, (unit, key) in enumerate(sub.handle.metadata["tasks"].items()):
        job_ids[unit] = str(7_000_000_000_000_000_000 + i)
        main_job = f"projects/123456789012/locations/us-central1/customJobs/{job_ids[unit]}"
        fake._task(sub.job_id, key, state="RUNNING", main_job=main_job, start=True)
    return orch, sub, job_ids


def test_one_entries_list_call_reads_every_unit_of_the_run(fake, config, store_settings) -> None:
    """Cloud Logging allows ~60 reads a minute per project: N units must not cost N reads per poll."""
    orch, sub, job_ids = _started_pipeline(fake, config, store_settings, "logs-one-read")
    for round_ in range(3):
        for unit, job_id in job_ids.items():
            fake.add_entry(job_id, f"{unit} {round_}")
    fake.add_entry("7999999999999999999", "a job of another run")
    records = list(orch.iter_logs(sub.job_id))
    [call] = fake.calls("logs")
    assert all(f'"{j}"' in call.body["filter"] for j in job_ids.values())
    assert [(r.unit, r.message) for r in records] == [(u, f"{u} {n}") for n in range(3) for u in job_ids]


def test_following_a_four_unit_run_makes_one_read_per_poll(fake, config, store_settings) -> None:
    orch, sub, job_ids = _started_pipeline(fake, config, store_settings, "logs-follow-one-read")

    def writer() -> None:
        for i in range(10):
            for job_id in job_ids.values():
                fake.add_entry(job_id, f"{job_id} {i}")
            time.sleep(0.03)
        fake.set_state(sub.job_id, "SUCCEEDED")

    thread = threading.Thread(target=writer)
    thread.start()
    seen = [r.message for r in orch.iter_logs(sub.job_id, follow=True)]
    thread.join()
    assert sorted(seen) == sorted(f"{j} {i}" for j in job_ids.values() for i in range(10))
    passes = len(fake.calls("get")) // 2  # each pass: core's status GET, then the GET for the tasks' jobs
    assert passes >= 2 and len(fake.calls("logs")) == passes
