"""``flowyml schedule create|list|pause|resume|delete --stack S`` on an aws_batch stack, against moto."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.aws.test_schedules import ROLE, scheduler
from tests.cli_process import cli_env, run_cli

pytestmark = pytest.mark.aws


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=tmp_path, env=cli_env(tmp_path / "home", repo_on_path=True, without=["FLOWYML_CONFIG"]))


def test_schedule_commands_on_a_batch_stack(fake, batch_config, artifact_root, store_settings, tmp_path) -> None:
    orchestrator = {
        "type": "aws_batch",
        "region": batch_config.region,
        "endpoint_url": batch_config.endpoint_url,
        "job_queue": batch_config.job_queue,
        "job_definition": batch_config.job_definition,
    }
    store = {"uri": artifact_root, "settings": store_settings}
    stacks = {
        "batch": {"orchestrator": {**orchestrator, "scheduler_role_arn": ROLE}, "artifact_store": store},
        "norole": {"orchestrator": orchestrator, "artifact_store": store},
    }
    (tmp_path / "flowyml.yaml").write_text(yaml.safe_dump({"stacks": stacks}))
    target = "tests.aws.aws_pipelines:diamond"
    create = ["schedule", "create", target, "--cron", "0 3 * * *", "--name", "nightly", "--tz", "Europe/Paris"]

    made = _cli(tmp_path, *create, "-p", "n=3", "--stack", "batch", "--json")
    assert made.returncode == 0, made.stdout + made.stderr
    doc = json.loads(made.stdout)
    assert doc["name"] == "nightly" and doc["backend"] == "aws_batch" and doc["timezone"] == "Europe/Paris"
    stored = scheduler(fake).get_schedule(Name="nightly", GroupName="flowyml")
    assert stored["ScheduleExpression"] == "cron(0 3 * * ? *)" and stored["Target"]["RoleArn"] == ROLE

    listed = _cli(tmp_path, "schedule", "list", "--stack", "batch")
    assert listed.returncode == 0 and "nightly" in listed.stdout and "aws-diamond" in listed.stdout
    paused = json.loads(_cli(tmp_path, "schedule", "pause", "nightly", "--stack", "batch", "--json").stdout)
    assert paused["paused"] is True and paused["next_fire_time"] is None
    resumed = json.loads(_cli(tmp_path, "schedule", "resume", "nightly", "--stack", "batch", "--json").stdout)
    assert resumed["paused"] is False and resumed["next_fire_time"]
    assert _cli(tmp_path, "schedule", "delete", "nightly", "--stack", "batch").returncode == 0
    assert scheduler(fake).list_schedules(GroupName="flowyml")["Schedules"] == []

    refused = _cli(tmp_path, *create, "--stack", "norole")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    line = refused.stderr.strip().splitlines()[-1]
    assert "flowyml.yaml: stacks.norole.orchestrator.scheduler_role_arn: required field missing" in line, line
    assert "set `scheduler_role_arn:`" in line
