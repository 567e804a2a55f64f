"""Azure ML schedules through azure-ai-ml's ``ml_client.schedules`` against the fake: create / list /
pause / resume / delete, and firings the fake creates from the schedule's job definition and
executes as normal runs."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import az_pipelines
import az_sched_pipelines
import pytest
from azfake_server import FakeAzureML
from azhelpers import file_root, orchestrator

from flowyml.core.errors import ConfigError
from flowyml.core.status import ExecutionStatus as S
from flowyml.orchestrators.registry import RunRegistry
from flowyml.plugins.schedules import ScheduleNotFoundError
from flowyml_azure import schedules
from flowyml_azure.config import AzureMLConfig

pytestmark = pytest.mark.azure
UTC = dt.timezone.utc
SCHEDULES = r"/schedules/flowyml-[^/]+$"


def only_schedule(fake: FakeAzureML) -> dict:
    assert len(fake.schedules) == 1, list(fake.schedules)
    return next(iter(fake.schedules.values()))


def test_a_schedule_is_a_job_schedule_whose_pipeline_job_takes_the_trigger_time(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    info = orch.schedule(az_pipelines.three_units, cron="0 3 * * *", name="nightly", timezone="Europe/Paris")
    sched = only_schedule(fake)
    assert sched["name"] == "flowyml-nightly"
    props = sched["properties"]
    assert props["trigger"]["triggerType"] == "Cron" and props["trigger"]["expression"] == "0 3 * * *"
    assert props["trigger"]["timeZone"] == "Romance Standard Time"  # Azure ML takes Windows zone names
    assert props["isEnabled"] is True and props["action"]["actionType"] == "CreateJob"
    job = props["action"]["jobDefinition"]
    assert job["jobType"] == "Pipeline" and job["inputs"]["fire_time"]["value"] == "${{creation_context.trigger_time}}"
    assert job["tags"]["flowyml-schedule"] == "nightly" and "flowyml.run_id" not in job["tags"]
    for node, body in job["jobs"].items():
        assert body["inputs"]["fire_time"]["value"] == "${{parent.inputs.fire_time}}", node
        command = fake.component(body["componentId"])["properties"]["componentSpec"]["command"]
        assert command.endswith(" --schedule nightly --fire-time '${{inputs.fire_time}}'"), command
        assert "/runs/nightly/job.json" in command  # the template, which the core wrote to the store
    assert info.name == "nightly" and info.backend == "azureml" and info.native_id == sched["id"]
    assert info.cron == "0 3 * * *" and info.timezone == "Europe/Paris" and info.pipeline_name == "azure-three-units"
    assert info.next_fire_time is not None and info.next_fire_time.astimezone(UTC).hour in (1, 2)
    assert not fake.jobs, "creating a schedule submits no job"

    again = orch.schedule(az_pipelines.ticking, cron="@hourly", name="nightly")  # the same name replaces it
    sched = only_schedule(fake)["properties"]
    assert sched["trigger"]["expression"] == "0 * * * *" and sched["trigger"]["timeZone"] == "UTC"
    assert list(sched["action"]["jobDefinition"]["jobs"]) == ["ticker"]  # one unit: still a pipeline job
    assert again.cron == "@hourly" and [i.name for i in orch.list_schedules()] == ["nightly"]
    assert fake.unrouted == [], "every call the SDK made has a route in the fake"


def test_pause_resume_and_delete(fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    orch.schedule(az_pipelines.ticking, cron="*/5 * * * *", name="often")
    paused = orch.pause_schedule("often")
    assert paused.paused and paused.next_fire_time is None and only_schedule(fake)["properties"]["isEnabled"] is False
    puts = len(fake.find("PUT", SCHEDULES))
    assert orch.pause_schedule("often").paused and len(fake.find("PUT", SCHEDULES)) == puts  # idempotent
    assert [i.name for i in orch.list_schedules()] == ["often"]  # a disabled schedule is still listed
    resumed = orch.resume_schedule("often")
    assert not resumed.paused and resumed.next_fire_time is not None
    assert only_schedule(fake)["properties"]["isEnabled"] is True
    # the round trip through the SDK (GET, flip, PUT) kept the job definition whole
    assert only_schedule(fake)["properties"]["action"]["jobDefinition"]["inputs"]["fire_time"]["value"] == (
        "${{creation_context.trigger_time}}"
    )
    with pytest.raises(ScheduleNotFoundError, match=r"no Azure ML schedule 'other'.*schedules: often"):
        orch.pause_schedule("other")
    assert orch.delete_schedule("often") is True and fake.schedules == {}
    assert orch.delete_schedule("often") is False and orch.list_schedules() == []
    created_paused = orch.schedule(az_pipelines.ticking, cron="0 * * * *", name="later", paused=True)
    assert created_paused.paused and only_schedule(fake)["properties"]["isEnabled"] is False
    assert fake.unrouted == []


def test_each_firing_is_a_normal_run_named_by_its_trigger_time(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    orch.schedule(az_pipelines.three_units, cron="0 3 * * *", name="nightly", timezone="Europe/Paris")
    first = dt.datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 03:00 in Paris
    jobs = [fake.fire("flowyml-nightly", first), fake.fire("flowyml-nightly", first + dt.timedelta(days=1))]
    assert len(set(jobs)) == 2 and not set(jobs) & {"nightly"}, "Azure ML names each fired job itself"
    for job in jobs:
        fake.execute(job)
    assert [e["code"] for e in fake.executions] == [0] * 6

    listed = orch.list_schedules()  # records the firings in the run registry
    assert [i.name for i in listed] == ["nightly"]
    assert listed[0].last_run_id == "nightly-20261203-020000"  # Azure ML keeps none: the newest firing's
    runs = sorted(r.run_id for r in RunRegistry().list() if r.run_id.startswith("nightly-"))
    assert runs == ["nightly-20261202-020000", "nightly-20261203-020000"]
    for run_id, job in zip(runs, jobs, strict=True):
        report = orch.get_status_report(run_id)
        assert report.status is S.COMPLETED and report.units == dict.fromkeys(
            ["prepare", "train", "evaluate"], S.COMPLETED
        ), report
        handle = RunRegistry().get(run_id).handle
        assert handle.job_id == job and handle.metadata["schedule"] == "nightly"
        assert orch.load_output(handle, "score") == (0 + 10 + 20 + 30) + 4
        assert orch._run_spec(handle)[1].labels["flowyml-schedule"] == "nightly"
        assert "training on 4 rows" in orch.get_run_logs(run_id)
    # every unit of a firing ran as that firing's run: the trigger time reached its command
    fired = [e["command"].rsplit("--fire-time ", 1)[1].strip("'") for e in fake.executions]
    assert fired == ["2026-12-02T02:00:00Z"] * 3 + ["2026-12-03T02:00:00Z"] * 3
    assert len(orch.list_schedules()) == 1 and len(RunRegistry().list()) == 2  # listing again adds nothing
    other = orch.run_pipeline(az_pipelines.ticking, run_id="manual-1")  # a job no schedule started
    assert other.job_id not in fake.fired and len(orch.record_schedule_runs("nightly")) == 2
    assert fake.unrouted == []


def test_a_trigger_time_in_dotnet_form_names_the_run_the_same_on_both_sides(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    orch.schedule(az_pipelines.ticking, cron="30 14 * * *", name="afternoon")
    fake.trigger_time_format = "%m/%d/%Y %I:%M:%S %p"  # "12/02/2026 02:30:00 PM": a space in it
    fake.execute(fake.fire(schedules.azure_name("afternoon"), dt.datetime(2026, 12, 2, 14, 30, tzinfo=UTC)))
    assert fake.executions[-1]["command"].endswith("--fire-time '12/02/2026 02:30:00 PM'")
    assert fake.executions[-1]["code"] == 0
    orch.list_schedules()
    report = orch.get_status_report("afternoon-20261202-143000")  # the units and the registry agree
    assert report.status is S.COMPLETED, report
    assert orch.load_output(RunRegistry().get("afternoon-20261202-143000").handle, "ticks") == 5


def test_a_failing_firing_reads_failed_and_a_pending_one_can_be_cancelled(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    info = orch.schedule(az_sched_pipelines.checked, cron="*/30 * * * *", name="v1.2-check", context={"fail": True})
    azure_name = schedules.azure_name("v1.2-check")  # Azure ML schedule names have no '.'
    assert re.fullmatch(r"flowyml-v1-2-check-[0-9a-f]{8}", azure_name) and list(fake.schedules) == [azure_name]
    assert info.name == "v1.2-check"  # the flowyml name is read back from the schedule's tags
    failing = fake.fire(azure_name, dt.datetime(2026, 12, 2, 10, 0, tzinfo=UTC))
    fake.execute(failing)
    pending = fake.fire(azure_name, dt.datetime(2026, 12, 2, 10, 30, tzinfo=UTC))
    assert [i.name for i in orch.list_schedules()] == ["v1.2-check"]
    report = orch.get_status_report("v1.2-check-20261202-100000")
    assert report.status is S.FAILED and report.units == {"load": S.COMPLETED, "check": S.FAILED}, report
    assert "check failed on 3 rows" in (report.message or ""), report.message
    assert orch.get_status_report("v1.2-check-20261202-103000").status is S.PENDING
    assert orch.stop_run("v1.2-check-20261202-103000") is True
    assert fake.jobs[pending].run.status == "CancelRequested"


def test_an_unsupported_time_zone_or_cron_is_refused_before_anything_is_created(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    with pytest.raises(ConfigError, match=r"Azure ML has no time zone for 'Antarctica/Troll'"):
        orch.schedule(az_pipelines.ticking, cron="0 3 * * *", name="nightly", timezone="Antarctica/Troll")
    with pytest.raises(ConfigError, match="invalid cron expression"):
        orch.schedule(az_pipelines.ticking, cron="0 3 * *", name="nightly")
    assert fake.schedules == {} and not fake.find("PUT", SCHEDULES)


def test_throttling_and_a_lost_create_answer_are_retried_into_one_schedule(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    fault = fake.inject(503, 1, method="PUT", path=SCHEDULES, after=True)  # created, answer lost
    throttled = fake.inject(429, 1, method="GET", path=SCHEDULES, retry_after=0)
    with fake.faulted(fault, throttled):
        info = orch.schedule(az_pipelines.ticking, cron="0 3 * * *", name="nightly")
    assert fault.hits == 1 and throttled.hits == 1
    assert list(fake.schedules) == ["flowyml-nightly"] and info.name == "nightly"


STACK = """
stacks:
  azure:
    orchestrator:
      type: azureml
      subscription_id: {sub}
      resource_group: flowyml-rg
      workspace_name: flowyml-ws
      compute: cpu-cluster
      credential: azfake_credential:FakeCredential
      arm_endpoint: {arm}
      ca_bundle: {ca}
    artifact_store:
      uri: {root}
      settings: {{shared: "true"}}
    docker:
      image: ghcr.io/example/flowyml-runner:1.0
"""


def test_the_cli_creates_lists_pauses_resumes_and_deletes_and_flowyml_runs_shows_the_firings(
    fake: FakeAzureML, tmp_path: Path
) -> None:
    import json
    import subprocess

    from azfake_knobs import process_env

    from tests.cli_process import cli_env, run_cli

    (tmp_path / "flowyml.yaml").write_text(
        STACK.format(sub=fake.subscription_id, arm=fake.base_url, ca=fake.ca_file, root=file_root(tmp_path))
    )
    env = cli_env(**process_env())

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=tmp_path, env=env, timeout=180, check=True)

    created = json.loads(
        cli("schedule", "create", "az_pipelines:three_units", "--cron", "0 3 * * *", "--name", "nightly",
            "--tz", "Europe/Paris", "-p", "size=3", "--stack", "azure", "--json").stdout
    )  # fmt: skip
    assert created["name"] == "nightly" and created["backend"] == "azureml" and not created["paused"]
    assert cli("schedule", "pause", "nightly", "--stack", "azure").stdout.split()[:2] == ["nightly", "0"]
    assert json.loads(cli("schedule", "list", "--stack", "azure", "--json").stdout)[0]["paused"] is True
    assert json.loads(cli("schedule", "resume", "nightly", "--stack", "azure", "--json").stdout)["paused"] is False

    job = fake.fire("flowyml-nightly", dt.datetime(2026, 12, 2, 2, 0, tzinfo=UTC))
    fake.execute(job)
    listed = cli("schedule", "list", "--stack", "azure").stdout
    assert "nightly" in listed and "Europe/Paris" in listed and "azure-three-units" in listed
    runs = json.loads(cli("runs", "--json").stdout)
    mine = [r for r in runs if r["run_id"] == "nightly-20261202-020000"]
    assert len(mine) == 1 and mine[0]["status"] == "COMPLETED", runs
    assert "preparing 3 rows" in cli("logs", "nightly-20261202-020000").stdout  # the schedule's -p reached it
    assert json.loads(cli("schedule", "delete", "nightly", "--stack", "azure", "--json").stdout)["deleted"] is True
    assert fake.schedules == {} and job in fake.jobs  # the run it started stays
