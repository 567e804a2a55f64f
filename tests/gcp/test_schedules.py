"""Vertex AI schedules through the real aiplatform_v1 ScheduleService client against the fake:
create / list / pause / resume / delete, and firings the fake executes as normal runs."""

from __future__ import annotations

import datetime as dt

import pytest

from flowyml.core.status import ExecutionStatus as S
from flowyml.orchestrators.registry import RunRegistry
from flowyml.plugins.schedules import ScheduleNotFoundError
from tests.gcp import gcp_pipelines as P
from tests.gcp.conftest import REPO, exec_env
from tests.gcp.helpers import executor_of, orchestrator

UTC = dt.timezone.utc


def only_schedule(fake) -> dict:
    assert len(fake.schedules) == 1, list(fake.schedules)
    return next(iter(fake.schedules.values()))


def test_a_schedule_is_a_vertex_schedule_creating_the_template_pipeline_job(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    info = orch.schedule(P.dag4, cron="0 3 * * *", name="nightly", timezone="Europe/Paris")
    sched = only_schedule(fake)
    assert sched["displayName"] == "flowyml-nightly" and sched["cron"] == "TZ=Europe/Paris 0 3 * * *"
    assert sched["maxConcurrentRunCount"] == "1" and sched["allowQueueing"] is True
    job = sched["createPipelineJobRequest"]["pipelineJob"]
    assert job["labels"]["flowyml-schedule"] == "nightly" and job["serviceAccount"] == config.service_account
    for key in job["pipelineSpec"]["root"]["dag"]["tasks"]:
        command = executor_of(job["pipelineSpec"], key)["command"]
        assert command[-4:] == ["--schedule", "nightly", "--fire-time", "{{$.pipeline_job_schedule_time_utc}}"]
    assert info.name == "nightly" and info.backend == "vertex_ai" and info.native_id == sched["name"]
    assert info.cron == "0 3 * * *" and info.timezone == "Europe/Paris" and info.pipeline_name == "gcp-dag4"
    assert info.next_fire_time is not None and info.next_fire_time.astimezone(UTC).hour in (1, 2)

    again = orch.schedule(P.dag4, cron="30 4 * * 1", name="nightly")  # the same name replaces it
    assert only_schedule(fake)["cron"] == "TZ=UTC 30 4 * * 1" and again.native_id != info.native_id
    assert [i.name for i in orch.list_schedules()] == ["nightly"]


def test_pause_resume_and_delete(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    orch.schedule(P.single, cron="*/5 * * * *", name="often")
    paused = orch.pause_schedule("often")
    assert paused.paused and paused.next_fire_time is None and only_schedule(fake)["state"] == "PAUSED"
    assert orch.pause_schedule("often").paused  # idempotent: no second pause call
    resumed = orch.resume_schedule("often")
    assert not resumed.paused and resumed.next_fire_time is not None
    assert only_schedule(fake)["state"] == "ACTIVE" and only_schedule(fake)["catchUp"] is False
    with pytest.raises(ScheduleNotFoundError, match=r"no Vertex AI schedule 'other'.*schedules: often"):
        orch.pause_schedule("other")
    assert orch.delete_schedule("often") is True and fake.schedules == {}
    assert orch.delete_schedule("often") is False and orch.list_schedules() == []
    created_paused = orch.schedule(P.single, cron="0 * * * *", name="later", paused=True)
    assert created_paused.paused and only_schedule(fake)["state"] == "PAUSED"


def test_each_firing_is_a_normal_run_named_by_its_fire_time(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    orch.schedule(P.dag4, cron="0 3 * * *", name="nightly", timezone="Europe/Paris")
    sched = only_schedule(fake)["name"]
    first = dt.datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 03:00 in Paris
    jobs = [fake.fire(sched, first), fake.fire(sched, first + dt.timedelta(days=1))]
    # the fake creates the job when it fires: pretend Vertex did so a few seconds after the fire time
    for job, when in zip(jobs, (first, first + dt.timedelta(days=1)), strict=True):
        fake.jobs[job]["createTime"] = (when + dt.timedelta(seconds=4)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for job in jobs:
        fake.execute(job, env=exec_env(), cwd=str(REPO))

    listed = orch.list_schedules()  # records the firings in the run registry
    assert listed[0].last_run_id == "nightly-20261203-020000"
    runs = sorted(r.run_id for r in RunRegistry().list() if r.run_id.startswith("nightly-"))
    assert runs == ["nightly-20261202-020000", "nightly-20261203-020000"]
    for run_id, job in zip(runs, jobs, strict=True):
        report = orch.get_status_report(run_id)
        assert report.status is S.COMPLETED and set(report.units.values()) == {S.COMPLETED}, report
        handle = RunRegistry().get(run_id).handle
        assert handle.job_id == job and handle.metadata["schedule"] == "nightly"
        assert orch.load_output(handle, "report") == "rows=4 weight=7.5"
        assert orch._run_spec(handle)[1].labels["flowyml-schedule"] == "nightly"
    # every unit of a firing ran as that firing's run (its own spec, written once by the first unit)
    fired = [e.command[e.command.index("--fire-time") + 1] for e in fake.executions]
    assert fired == ["2026-12-02T02:00:00Z"] * 4 + ["2026-12-03T02:00:00Z"] * 4
    assert len(orch.list_schedules()) == 1 and len(RunRegistry().list()) == 2  # listing again adds nothing


def test_a_firing_s_steps_see_the_firing_s_run_id(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    orch.schedule(P.whoami_pipeline, cron="0 3 * * *", name="whoami", timezone="UTC")
    when = dt.datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    job = fake.fire(only_schedule(fake)["name"], when)
    fake.jobs[job]["createTime"] = (when + dt.timedelta(seconds=4)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fake.execute(job, env=exec_env(), cwd=str(REPO))
    orch.list_schedules()
    handle = RunRegistry().get("whoami-20261202-030000").handle
    assert orch.load_output(handle, "me") == "whoami-20261202-030000"  # not the template's (the schedule's name)


def test_a_lost_create_answer_leaves_one_schedule_and_throttling_is_retried(fake, config, store_settings) -> None:
    from tests.gcp.fake_vertex import Fault

    orch = orchestrator(config, store_settings)
    fake.faults.append(Fault("schedule_create", status=503, after_commit=True))  # created, answer lost
    fake.faults.append(Fault("schedule_list", status=429))
    info = orch.schedule(P.single, cron="0 3 * * *", name="nightly")
    assert len(fake.schedules) == 1 and info.native_id in fake.schedules
    assert len(fake.calls("schedule_create")) == 1  # the retry found it instead of creating a second


def test_a_template_vertex_cannot_run_is_refused_before_a_schedule_exists(fake, config, store_settings):
    from flowyml.core.errors import ConfigError
    from flowyml_gcp.orchestrators import VertexAIOrchestrator

    orch = VertexAIOrchestrator(config=config, store_settings=store_settings)  # no image
    with pytest.raises(ConfigError, match="vertex_ai needs a container image"):
        orch.schedule(P.single, cron="0 3 * * *", name="nightly")
    assert fake.schedules == {} and not fake.calls("schedule_create")
