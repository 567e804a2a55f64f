"""The helpers every backend shares (issue 18, item 3), each checked on its own: the step-runner's
log-line parser, cursors, the client cache, run-state aggregation and the backoff."""

from __future__ import annotations

import contextlib
import io
import threading
import time

import pytest

from flowyml.core.status import ExecutionStatus as S
from flowyml.plugins.clients import ClientCache
from flowyml.plugins.cursors import CursorError, decode_cursor, encode_cursor
from flowyml.plugins.logs import parse_runner_line, record_of
from flowyml.plugins.polling import Backoff
from flowyml.plugins.runstate import aggregate


def test_the_parser_reads_what_the_step_runner_prints() -> None:
    from flowyml import runner

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runner.emit("WARNING", "step 'train' started", unit="prep", step="train")
    line = parse_runner_line(out.getvalue(), fallback_ts=1.0)
    assert line.structured and line.severity == "WARNING" and line.message == "step 'train' started"
    assert line.step == "train" and isinstance(line.ts, float) and abs(line.ts - time.time()) < 60
    record = record_of(line, "prep", "c1")
    assert (record.timestamp, record.unit, record.cursor, record.severity) == (line.ts, "prep", "c1", "WARNING")


@pytest.mark.parametrize("text", ["plain output\n", '{"not": "an event"}', "{broken json"])
def test_anything_else_is_plain_output_stamped_with_the_fallback(text: str) -> None:
    line = parse_runner_line(text, fallback_ts=12.5, severity="ERROR")
    assert not line.structured and line.ts == 12.5 and line.severity == "ERROR" and line.message == text.rstrip("\n")


def test_cursors_round_trip_and_a_foreign_one_is_refused_by_name() -> None:
    position = {"prep": 120, "total": 0}
    assert decode_cursor(encode_cursor(position), "mybackend") == position
    assert decode_cursor(None, "mybackend") == {}
    assert encode_cursor({"b": 1, "a": 2}) == encode_cursor({"a": 2, "b": 1})  # stable
    with pytest.raises(CursorError, match="not a mybackend log cursor"):
        decode_cursor("opaque-token-from-elsewhere", "mybackend")


def test_the_client_cache_builds_one_client_per_key_under_racing_threads() -> None:
    cache: ClientCache[object] = ClientCache()
    built: list[str] = []
    start = threading.Barrier(8)

    def factory(key: str) -> object:
        built.append(key)
        time.sleep(0.05)  # a slow credential chain
        return object()

    got: list[object] = []

    def worker(key: str) -> None:
        start.wait()
        got.append(cache.get(key, lambda: factory(key)))

    threads = [threading.Thread(target=worker, args=("eu" if i % 2 else "us",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(built) == ["eu", "us"] and len({id(c) for c in got}) == 2
    cache.clear()
    cache.get("eu", lambda: factory("eu"))
    assert built.count("eu") == 2


@pytest.mark.parametrize(
    ("units", "run"),
    [
        ([], S.PENDING),
        ([S.COMPLETED, S.COMPLETED], S.COMPLETED),
        ([S.COMPLETED, S.FAILED, S.CANCELLED], S.FAILED),  # the dependant of a failed unit reads CANCELLED
        ([S.FAILED, S.RUNNING], S.RUNNING),  # FAILED only once every unit ended
        ([S.COMPLETED, S.UNKNOWN], S.UNKNOWN),  # a unit we cannot read: never a guess
        ([S.CANCELLED, S.COMPLETED], S.CANCELLED),
        ([S.TIMED_OUT, S.COMPLETED], S.TIMED_OUT),
        ([S.STOPPING, S.RUNNING], S.STOPPING),
        ([S.COMPLETED, S.QUEUED], S.QUEUED),
    ],
)
def test_run_state_from_unit_states(units: list[S], run: S) -> None:
    assert aggregate(units) is run


def test_backoff_grows_to_its_maximum_with_jitter_and_never_passes_a_deadline() -> None:
    backoff = Backoff(maximum=1.0, initial=0.2, factor=2.0, jitter=0.2)
    pauses = [backoff.next() for _ in range(6)]
    for pause, delay in zip(pauses, [0.2, 0.4, 0.8, 1.0, 1.0, 1.0], strict=True):
        assert delay * 0.8 <= pause <= delay * 1.2
    assert Backoff(maximum=10.0, initial=5.0).next(deadline=time.monotonic() + 0.5) <= 0.5
