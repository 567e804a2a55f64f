"""Native schedules: the contract types, a backend without them, and the local scheduler end to end."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import signal
import subprocess
import time
from pathlib import Path

import attrs
import pytest

from flowyml.backends.local import scheduler, schedules
from flowyml.core.errors import ConfigError
from flowyml.orchestrators import RemoteOrchestrator
from flowyml.orchestrators.registry import RunRegistry
from flowyml.plugins import Backend
from flowyml.plugins.manager import PluginManager
from flowyml.plugins.schedules import (
    SCHEDULE_LABEL,
    NoSchedulesError,
    ScheduleNotFoundError,
    job_for_firing,
    scheduled_run_id,
)
from flowyml.stacks.local import LocalOrchestrator
from tests.cli_process import run_cli

ROOT = Path(__file__).resolve().parents[2]
TARGET = "tests/core/lifecycle_pipelines.py"
UTC = dt.timezone.utc


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=ROOT, check=check)


@pytest.fixture
def stop_scheduler():
    """End the scheduler this test started (by its recorded pid), whatever the test did."""
    yield
    pid = schedules.scheduler_pid()
    if pid is not None and pid.is_alive():
        pid.kill_group(signal.SIGTERM)


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


# -- the contract ------------------------------------------------------------------------------
def test_a_firing_run_id_is_the_schedule_name_and_the_utc_fire_time():
    paris = dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert scheduled_run_id("nightly", paris) == "nightly-20261202-020000"
    assert scheduled_run_id("nightly", paris) == scheduled_run_id("nightly", paris.astimezone(UTC))
    with pytest.raises(ValueError, match="aware"):
        scheduled_run_id("nightly", dt.datetime(2026, 12, 2))


def test_a_firing_is_the_template_under_its_run_id_with_the_schedule_label():
    from flowyml.orchestrators.spec import build_job_spec
    from tests.core.lifecycle_pipelines import quick

    template = build_job_spec(quick, "nightly", "file:///tmp/x", pipeline_module=f"{TARGET}:quick")
    job = job_for_firing(template, "nightly", dt.datetime(2026, 1, 1, tzinfo=UTC))
    assert job.run_id == "nightly-20260101-000000" and job.labels[SCHEDULE_LABEL] == "nightly"
    assert job.spec_uri.endswith("runs/nightly-20260101-000000/job.json")
    assert attrs.evolve(job, run_id=template.run_id, labels=template.labels) == template


def test_bad_cron_and_bad_names_are_refused_before_anything_is_written(flowyml_home: Path):
    from tests.core.lifecycle_pipelines import quick

    orch = LocalOrchestrator()
    with pytest.raises(ConfigError, match="invalid cron expression '0 3 \\* \\*'"):
        orch.schedule(quick, cron="0 3 * *", name="nightly", pipeline_module=f"{TARGET}:quick")
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        orch.schedule(quick, cron="0 3 * * *", name="nightly", timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="invalid schedule name 'a/b'"):
        orch.schedule(quick, cron="0 3 * * *", name="a/b")
    assert not schedules.schedules_root().exists()


class NoScheduleBackend(Backend):
    name = "plain"


def test_a_backend_without_schedules_says_so():
    pm = PluginManager(load_entry_points=False)
    pm.register_backend(NoScheduleBackend())
    orch = RemoteOrchestrator(backend="plain", plugin_manager=pm)
    for call in (orch.list_schedules, lambda: orch.pause_schedule("x"), lambda: orch.delete_schedule("x")):
        with pytest.raises(NoSchedulesError, match="backend 'plain' has no native schedules"):
            call()


# -- the local scheduler -----------------------------------------------------------------------
def test_due_firing_takes_the_latest_missed_instant_and_never_one_twice(flowyml_home: Path):
    from flowyml.orchestrators.spec import build_job_spec
    from flowyml.plugins.schedules import ScheduleSpec
    from tests.core.lifecycle_pipelines import quick

    template = build_job_spec(quick, "q", "file:///tmp/x", pipeline_module=f"{TARGET}:quick")
    since = dt.datetime(2026, 12, 1, 2, 59, 30, tzinfo=UTC)
    record = schedules.Record(spec=ScheduleSpec("q", "*/10 * * * *", template), config={}, since=since)
    assert scheduler.due_firing(record, since + dt.timedelta(seconds=29)) is None
    assert scheduler.due_firing(record, dt.datetime(2026, 12, 1, 3, 0, tzinfo=UTC)) == dt.datetime(
        2026, 12, 1, 3, 0, tzinfo=UTC
    )
    later = dt.datetime(2026, 12, 1, 3, 35, tzinfo=UTC)  # 03:00, 03:10, 03:20, 03:30 missed: only 03:30 fires
    assert scheduler.due_firing(record, later) == dt.datetime(2026, 12, 1, 3, 30, tzinfo=UTC)
    fired = attrs.evolve(record, state={"last_fire": "2026-12-01T03:30:00+00:00"})
    assert scheduler.due_firing(fired, later) is None
    assert fired.next_fire() == dt.datetime(2026, 12, 1, 3, 40, tzinfo=UTC)
    assert scheduler.due_firing(attrs.evolve(record, spec=attrs.evolve(record.spec, paused=True)), later) is None


def _scheduled(runs: list[dict], name: str) -> list[dict]:
    return sorted((r for r in runs if r["run_id"].startswith(f"{name}-")), key=lambda r: r["run_id"])


def test_local_schedule_end_to_end_through_the_cli(monkeypatch: pytest.MonkeyPatch, stop_scheduler):
    # the schedules' clock runs 15x faster here: `* * * * *` fires every 4 real seconds
    monkeypatch.setenv(schedules.CLOCK_ENV, f"{time.time():.3f}:15")
    monkeypatch.setenv("FLOWYML_SCHEDULER_TICK", "0.1")
    created = json.loads(
        cli("schedule", "create", f"{TARGET}:quick", "--cron", "* * * * *", "--name", "every-minute",
            "--stack", "local", "--json").stdout
    )  # fmt: skip
    assert created["name"] == "every-minute" and created["paused"] is False
    assert created["pipeline_name"] == "lifecycle-quick" and created["next_fire_time"].endswith(":00+00:00")
    pid = schedules.scheduler_pid()
    assert pid is not None and pid.is_alive()

    def completed_runs(count: int):
        runs = _scheduled(json.loads(cli("runs", "--json").stdout), "every-minute")
        done = [r for r in runs if r["status"] == "COMPLETED"]
        return runs if len(done) >= count else None

    runs = wait_for(lambda: completed_runs(2), what="two completed scheduled runs")
    fire_times = [dt.datetime.strptime(r["run_id"][-15:], "%Y%m%d-%H%M%S") for r in runs]
    assert all(t.second == 0 for t in fire_times)
    assert all(b - a == dt.timedelta(minutes=1) for a, b in itertools.pairwise(fire_times))
    assert runs[0]["backend"] == "local" and runs[0]["pipeline"] == "lifecycle-quick"
    status = json.loads(cli("status", runs[0]["run_id"], "--json").stdout)
    assert status["units"] == {"produce": "COMPLETED", "consume": "COMPLETED"}
    assert "tick 2" in cli("logs", runs[0]["run_id"]).stdout

    listed = json.loads(cli("schedule", "list", "--stack", "local", "--json").stdout)
    assert [s["name"] for s in listed] == ["every-minute"] and listed[0]["last_run_id"].startswith("every-minute-")

    paused = json.loads(cli("schedule", "pause", "every-minute", "--stack", "local", "--json").stdout)
    assert paused["paused"] is True and paused["next_fire_time"] is None
    paused_at = schedules.now().replace(tzinfo=None)
    time.sleep(10)  # 2.5 minutes on the schedule's clock: nothing may fire while paused
    during = _scheduled(json.loads(cli("runs", "--json").stdout), "every-minute")
    late = [r for r in during if dt.datetime.strptime(r["run_id"][-15:], "%Y%m%d-%H%M%S") > paused_at]
    assert late == [], late

    cli("schedule", "resume", "every-minute", "--stack", "local")
    wait_for(
        lambda: len(_scheduled(json.loads(cli("runs", "--json").stdout), "every-minute")) > len(during),
        what="a firing after resume",
    )
    assert cli("schedule", "delete", "every-minute", "--stack", "local").returncode == 0
    wait_for(lambda: not pid.is_alive(), timeout=20, what="the scheduler to exit with no schedule left")
    gone = cli("schedule", "delete", "every-minute", "--stack", "local", check=False)
    assert gone.returncode == 3 and "no such schedule" in gone.stdout


def test_a_refire_of_the_same_instant_finds_the_same_run(monkeypatch: pytest.MonkeyPatch, stop_scheduler):
    from tests.core.lifecycle_pipelines import quick

    monkeypatch.chdir(ROOT)
    orch = LocalOrchestrator()
    orch.schedule(quick, cron="0 3 * * *", name="nightly", pipeline_module=f"{TARGET}:quick", paused=True)
    assert schedules.scheduler_pid() is None  # nothing active: no scheduler process
    record = schedules.load("nightly")
    instant = dt.datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    first = scheduler.fire(record, instant)
    again = scheduler.fire(record, instant)
    assert first == again == "nightly-20261202-030000"
    assert [r.run_id for r in RunRegistry().list() if r.run_id.startswith("nightly-")] == [first]
    handle = orch._handle(first)
    assert handle.pipeline_name == "lifecycle-quick" and handle.backend == "local"
    final = wait_for(lambda: (r := orch.get_status_report(handle)).status.is_finished and r, what="the fired run")
    assert final.status.name == "COMPLETED"
    with pytest.raises(ScheduleNotFoundError, match=r"no local schedule 'weekly'.*schedules: nightly"):
        orch.pause_schedule("weekly")
    assert orch.get_schedule("nightly").paused is True
    assert orch.delete_schedule("nightly") is True and orch.list_schedules() == []


def test_the_cli_says_clearly_when_the_stack_has_no_schedules(tmp_path: Path):
    config = tmp_path / "flowyml.yaml"
    config.write_text(
        "stacks:\n  jobs:\n    orchestrator: {type: httpjobs, url: 'http://127.0.0.1:9', token: t}\n"
        f"    artifact_store: {{uri: '{(tmp_path / 'artifacts').as_uri()}'}}\n"
    )
    for args in (
        ("list",),
        ("create", f"{TARGET}:quick", "--cron", "0 3 * * *", "--name", "nightly"),
        ("pause", "nightly"),
    ):
        proc = cli("--config", str(config), "schedule", *args, "--stack", "jobs", check=False)
        assert proc.returncode == 2, proc
        assert "backend 'httpjobs' has no native schedules" in proc.stderr and "Traceback" not in proc.stderr
    bad = cli("schedule", "create", f"{TARGET}:quick", "--cron", "61 * * * *", "--name", "n", "--stack", "local",
              check=False)  # fmt: skip
    assert bad.returncode == 2 and "invalid cron expression '61 * * * *'" in bad.stderr
    assert not schedules.schedules_root().exists()


def test_a_dead_scheduler_is_started_again_by_list(monkeypatch: pytest.MonkeyPatch, stop_scheduler):
    from tests.core.lifecycle_pipelines import quick

    monkeypatch.chdir(ROOT)
    orch = LocalOrchestrator()
    orch.schedule(quick, cron="0 3 * * *", name="nightly", pipeline_module=f"{TARGET}:quick")
    first = schedules.scheduler_pid()
    assert first is not None and first.is_alive()
    orch.schedule(quick, cron="0 4 * * *", name="early", pipeline_module=f"{TARGET}:quick")
    assert schedules.scheduler_pid() == first  # one scheduler serves every schedule
    first.kill_group(signal.SIGKILL)  # a crash, or a reboot
    wait_for(lambda: not first.is_alive(), timeout=10, what="the scheduler to die")
    assert [i.name for i in orch.list_schedules()] == ["early", "nightly"]
    second = schedules.scheduler_pid()
    assert second is not None and second != first and second.is_alive()
    assert all(i.message is None for i in orch.list_schedules())
