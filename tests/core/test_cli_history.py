"""Run history (issue 15 item 5): ``flowyml runs`` columns and filters, start/end/duration in its JSON,
``flowyml status`` with units in DAG order and their durations, a readable ``--details``; the registry
columns behind them. Runs go to the real local backend; the CLI runs as a subprocess."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowyml.cli.history import duration, parse_since, parse_statuses, readable
from flowyml.core.errors import ConfigError
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators.registry import RunRegistry
from flowyml.plugins.types import RunHandle
from tests.cli_process import run_cli

ROOT = Path(__file__).parent.parent.parent
PIPELINES = "tests/core/history_pipelines.py"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=ROOT)


def submit(target: str) -> str:
    proc = cli("run", f"{PIPELINES}:{target}", "--detach", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["run_id"]


def wait_finished(run_id: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        doc = json.loads(cli("status", run_id, "--json").stdout)
        if ExecutionStatus(doc["status"]).is_finished or time.monotonic() > deadline:
            return doc
        time.sleep(0.3)


def iso(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def two_runs() -> tuple[str, str, float, float]:
    """A completed run of hist-ok and a failed one of hist-broken; (ok, broken, wall start, wall end)."""
    began = time.time()
    ok, broken = submit("ok"), submit("broken")
    assert wait_finished(ok)["status"] == "COMPLETED"
    assert wait_finished(broken)["status"] == "FAILED"
    return ok, broken, began, time.time()


def test_runs_lists_pipeline_start_and_duration_and_filters(two_runs):
    ok, broken, began, ended = two_runs
    table = cli("runs")
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["RUN", "PIPELINE", "STATUS", "STARTED", "DURATION", "BACKEND"]
    rows = {line.split()[0]: line.split() for line in lines}
    assert rows[ok][1:3] == ["hist-ok", "COMPLETED"] and rows[broken][1:3] == ["hist-broken", "FAILED"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", rows[ok][3]) and re.fullmatch(r"\d\d:\d\d:\d\d", rows[ok][4])
    assert re.fullmatch(r"\d+\.\d\ds|\d+\.\ds", rows[ok][5]) and rows[ok][6] == "local"
    assert [line.split()[0] for line in lines] == [broken, ok]  # newest first

    docs = {r["run_id"]: r for r in json.loads(cli("runs", "--json").stdout)}
    for run_id in (ok, broken):
        row = docs[run_id]
        start, end = iso(row["start"]), iso(row["end"])
        assert began - 1 <= start <= end <= ended + 1, row
        assert row["duration_seconds"] == pytest.approx(end - start, abs=0.01)
        assert row["duration_seconds"] >= 0.4 if run_id == ok else row["duration_seconds"] > 0  # two 0.2 s steps
    # the end is the last unit's end as the step-runner recorded it, not when someone looked
    status = json.loads(cli("status", ok, "--json").stdout)
    assert docs[ok]["end"] == max(u["end"] for u in status["timeline"])

    def ids(*argv: str) -> list[str]:
        proc = cli("runs", "--json", *argv)
        assert proc.returncode == 0, proc.stderr
        return [r["run_id"] for r in json.loads(proc.stdout)]

    assert ids("--status", "failed") == [broken]
    assert ids("--status", "COMPLETED") == [ok]
    assert ids("--status", "completed,failed") == ids("--status", "failed", "--status", "completed") == [broken, ok]
    assert ids("--status", "running") == []
    assert ids("--pipeline", "hist-ok") == [ok] and ids("--pipeline", "hist-*") == [broken, ok]
    assert ids("--limit", "1") == [broken] and ids("-n", "1", "--status", "completed") == [ok]
    assert ids("--since", "1h") == [broken, ok] and ids("--since", "2999-01-01") == []
    assert ids("--backend", "local", "--pipeline", "hist-broken", "--since", dt.date.today().isoformat()) == [broken]
    with sqlite3.connect(os.environ["FLOWYML_HOME"] + "/runs.db") as db:  # the ok run was made 3 hours ago
        db.execute("UPDATE runs SET created_at=created_at-10800 WHERE run_id=?", (ok,))
    assert ids("--since", "2h") == [broken] and ids("--since", "4h") == [broken, ok]
    assert cli("runs", "--since", "2999-01-01").stdout.strip() == "no runs match"

    bad = cli("runs", "--status", "broke")
    assert bad.returncode == 2 and "--status 'broke': not a run status; one of" in bad.stderr and "failed" in bad.stderr
    assert cli("runs", "--since", "yesterday").returncode == 2
    assert "expected a duration ago (45s, 30m, 2h, 7d, 1w)" in cli("runs", "--since", "yesterday").stderr
    assert cli("runs", "--limit", "0").returncode == 2


def test_status_lists_units_in_dag_order_with_durations_and_readable_details(two_runs):
    ok, broken, _, _ = two_runs
    doc = json.loads(cli("status", ok, "--json").stdout)
    assert [u["unit"] for u in doc["timeline"]] == ["zeta_load", "alpha_train", "mid_report"]
    for unit in doc["timeline"]:
        assert unit["status"] == "COMPLETED" and unit["error"] is None
        assert iso(unit["start"]) <= iso(unit["end"])
        assert unit["duration_seconds"] == pytest.approx(iso(unit["end"]) - iso(unit["start"]), abs=0.002)
    assert doc["timeline"][0]["duration_seconds"] >= 0.2 and doc["timeline"][1]["duration_seconds"] >= 0.2
    assert iso(doc["start"]) <= iso(doc["timeline"][0]["start"]) and doc["end"] == doc["timeline"][-1]["end"]

    text = cli("status", ok).stdout.splitlines()
    assert text[0].startswith(f"{ok}  COMPLETED  (local: ")
    assert re.fullmatch(r"  pipeline hist-ok, submitted \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, took \d+\.\d+s", text[1])
    assert text[2].split() == ["UNIT", "STATUS", "STARTED", "DURATION"]
    units = [line.split() for line in text[3:6]]
    assert [u[0] for u in units] == ["zeta_load", "alpha_train", "mid_report"]
    assert all(u[1] == "COMPLETED" and re.fullmatch(r"\d\d:\d\d:\d\d", u[2]) and u[3].endswith("s") for u in units)

    failed = json.loads(cli("status", broken, "--json").stdout)
    assert [(u["unit"], u["status"]) for u in failed["timeline"]] == [
        ("zeta_load", "COMPLETED"),
        ("alpha_broken", "FAILED"),
    ]
    assert "the training data is empty" in failed["timeline"][1]["error"]

    details = cli("status", ok, "--details")
    assert details.returncode == 0, details.stderr
    body = details.stdout[details.stdout.index("  details:") :]
    assert re.search(r"started_at: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", body), body
    assert not re.search(r"\b1\d{9}\.\d", body), body  # no epoch floats
    for python_repr in ("{'", "['", "None", "ExecutionStatus.", "True", "False"):
        assert python_repr not in body, (python_repr, body)
    assert re.search(r"\n      zeta_load: completed\n", body), body  # a mapping is a block of its own lines
    as_json = json.loads(cli("status", ok, "--details", "--json").stdout)
    assert as_json["details"]["platform"] == "local"


def test_in_process_runs_have_their_units_own_times():
    proc = cli("run", f"{PIPELINES}:ok", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(cli("status", json.loads(proc.stdout)["run_id"], "--json").stdout)
    assert doc["backend"] == "inprocess"
    first, second, third = doc["timeline"]
    assert [u["unit"] for u in doc["timeline"]] == ["zeta_load", "alpha_train", "mid_report"]
    assert 0.2 <= first["duration_seconds"] < 0.35 and 0.2 <= second["duration_seconds"] < 0.35
    assert iso(second["start"]) >= iso(first["end"]) - 0.01 and third["duration_seconds"] < 0.15


def test_status_loads_neither_asyncio_nor_a_cloud_sdk(two_runs):
    """Part of keeping `flowyml status` under 0.2 s: it imports what it needs, nothing more."""
    ok = two_runs[0]
    code = (
        "import sys, io, contextlib\n"
        "at_start = set(sys.modules)\n"  # namespace packages (google) that .pth files load at start-up
        "from flowyml.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['status', {ok!r}]) == 0\n"
        "print(sorted(m for m in set(sys.modules) - at_start if m.split('.')[0] in "
        "('asyncio', 'boto3', 'botocore', 'google', 'azure', 'ray', 'cattrs', 'numpy')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# -- the pieces -------------------------------------------------------------------------------
def test_since_status_and_duration_parsing():
    now = 1_800_000_000.0
    assert parse_since("30m", now) == now - 1800 and parse_since("2h", now) == now - 7200
    assert parse_since("7d", now) == now - 7 * 86400 and parse_since("1w", now) == parse_since("7D", now)
    assert parse_since("2026-12-01") == dt.datetime(2026, 12, 1).timestamp()  # local midnight
    assert parse_since("2026-12-01T10:30:00Z") == dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.timezone.utc).timestamp()
    with pytest.raises(ConfigError, match="--since 'last week'"):
        parse_since("last week")
    assert parse_statuses([]) is None
    assert parse_statuses(["Failed,timed_out", "RUNNING"]) == {
        ExecutionStatus.FAILED,
        ExecutionStatus.TIMED_OUT,
        ExecutionStatus.RUNNING,
    }
    assert [duration(s) for s in (None, 0.4213, 12.34, 245, 7380, 2 * 86400 + 3 * 3600)] == [
        "-",
        "0.42s",
        "12.3s",
        "4m05s",
        "2h03m",
        "2d03h",
    ]
    assert readable(1796165880.5, "started_at") == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1796165880.5))
    assert readable(1796165880, "exit_code") == "1796165880"  # a big number in a field not named like a time
    assert readable({"a": ExecutionStatus.FAILED, "b": None}) == "a=FAILED, b=-"
    assert readable(["x", 1.5, True]) == "x, 1.5, yes"


def test_registry_records_when_a_run_ends_once_and_migrates_old_files(tmp_path: Path):
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as db:  # a registry file written before the time columns existed
        db.execute(
            "CREATE TABLE runs (run_id TEXT PRIMARY KEY, backend TEXT NOT NULL, job_id TEXT NOT NULL,"
            " pipeline TEXT NOT NULL, stack TEXT, handle TEXT NOT NULL, status TEXT NOT NULL, message TEXT,"
            " created_at REAL NOT NULL, updated_at REAL NOT NULL)"
        )
        handle = RunHandle(backend="local", run_id="r-old", job_id="j", pipeline_name="p")
        db.execute(
            "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?)",
            ("r-old", "local", "j", "p", None, handle.to_json(), "COMPLETED", None, 1.0e9, 1.0e9),
        )
    registry = RunRegistry(old)
    record = registry.get("r-old")
    assert record.status is ExecutionStatus.COMPLETED and record.finished_at is None and record.duration_seconds is None

    registry.record(RunHandle(backend="local", run_id="r-new", job_id="j2", pipeline_name="p"))
    registry.update_status("r-new", ExecutionStatus.RUNNING)
    assert registry.get("r-new").finished_at is None
    registry.update_status("r-new", ExecutionStatus.FAILED, "boom")
    first_end = registry.get("r-new").finished_at
    assert first_end is not None and registry.get("r-new").duration_seconds is not None
    time.sleep(0.01)
    registry.update_statuses([("r-new", ExecutionStatus.FAILED, "boom")])  # polled again later: the end stays
    assert registry.get("r-new").finished_at == first_end
    registry.set_times("r-new", 100.0, 200.0)  # the unit results' times replace what was observed
    assert (registry.get("r-new").started_at, registry.get("r-new").finished_at) == (100.0, 200.0)
    assert [r.run_id for r in registry.list(statuses={ExecutionStatus.FAILED})] == ["r-new"]
    assert [r.run_id for r in registry.list(pipeline="p", since=1.5e9)] == ["r-new"]
    assert [r.run_id for r in registry.list(limit=1, offset=1)] == ["r-old"]
