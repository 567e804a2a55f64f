"""End to end: the fake *runs* what we submitted (each task's container command + env as a local
subprocess, in dependency order, against fake-gcs-server) and we read the result back."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from flowyml.core.status import ExecutionStatus as S
from tests.gcp import gcp_pipelines as P
from tests.gcp.conftest import REPO
from tests.gcp.helpers import orchestrator

UNITS = ("load", "featurize", "train", "report")


def test_a_four_unit_pipeline_runs_from_what_we_submitted(fake, config, store_settings, execute) -> None:
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.dag4, run_id="e2e-dag4")
    assert orch.get_run_status(sub.job_id) is S.PROVISIONING

    execute(sub.handle)

    # the commands ran in dependency order, each one a real `flowyml step-runner`
    assert [e.returncode for e in fake.executions] == [0, 0, 0, 0]
    assert [e.command[e.command.index("--unit") + 1] for e in fake.executions] == list(UNITS)
    assert all(e.command[:2] == ["flowyml", "step-runner"] for e in fake.executions)

    report = orch.get_status_report(sub.job_id)
    assert report.status is S.COMPLETED and report.units == dict.fromkeys(UNITS, S.COMPLETED)
    assert sub.wait_for_completion(timeout=10, poll_interval=0.05) is S.COMPLETED
    assert sub.get_output("report") == "rows=4 weight=7.5"
    assert sub.get_output("model") == {"weight": 7.5}

    # logs: every task's own entries, tagged with its unit, in order; follow gives the same
    records = list(orch.iter_logs(sub.job_id))
    by_unit = {u: [r.message for r in records if r.unit == u] for u in UNITS}
    assert "loading 4 rows" in by_unit["load"] and "featurizing" in by_unit["featurize"]
    assert "training" in by_unit["train"] and "reporting" in by_unit["report"]
    order = [r.unit for r in records]
    assert [order.index(u) for u in UNITS] == sorted(order.index(u) for u in UNITS)
    assert [r.message for r in orch.iter_logs(sub.job_id, follow=True)] == [r.message for r in records]

    # details: states, timings, labels, console URL, one entry per task with its CustomJob
    d = orch.get_run_details(sub.job_id)
    assert d["state"] == "PIPELINE_STATE_SUCCEEDED" and d["status"] == "COMPLETED" and d["error"] is None
    assert d["create_time"] and d["start_time"] and d["end_time"]
    assert d["labels"]["flowyml-run"] == "e2e-dag4"
    assert d["console_url"].startswith("https://console.cloud.google.com/vertex-ai/locations/us-central1/pipelines")
    assert {t["unit"]: t["state"] for t in d["tasks"]} == dict.fromkeys(UNITS, "SUCCEEDED")
    assert all("/customJobs/" in t["job"] for t in d["tasks"])


def test_a_failing_custom_job_reports_failed_with_the_step_error(fake, config, store_settings, execute) -> None:
    from flowyml.testing import pipelines as kit

    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(kit.failing, run_id="e2e-failing")
    execute(sub.handle)
    assert fake.executions[-1].returncode != 0
    report = orch.get_status_report(sub.job_id)
    assert report.status is S.FAILED
    assert "non-zero status" in (report.message or "") and "boom from the flowyml conformance kit" in report.message


def test_a_fresh_process_reattaches_by_run_id(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.dag4, run_id="e2e-attach")
    fake.set_state(sub.job_id, "RUNNING")
    code = (
        "import json, sys, flowyml; r = flowyml.attach('e2e-attach'); "
        "print(json.dumps({'job_id': r.job_id, 'status': r.status().name, "
        "'sdk_loaded': 'google.cloud.aiplatform_v1' in sys.modules}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=dict(os.environ), cwd=str(REPO)
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc == {"job_id": sub.job_id, "status": "RUNNING", "sdk_loaded": True}
    assert os.environ["FLOWYML_HOME"]  # the same run registry as this process


def test_the_processes_the_fake_starts_run_under_the_egress_guard(fake) -> None:
    from tests.gcp.conftest import exec_env

    code = "import socket; socket.create_connection(('203.0.113.7', 443), timeout=1)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=exec_env())
    assert proc.returncode != 0 and "egress blocked" in proc.stderr


def test_units_with_underscores_run_and_log_when_task_names_are_display_names(
    fake, config, store_settings, execute
) -> None:
    fake.task_names = "display"  # taskDetails[].taskName = `load_data`, not the DAG key `load-data`
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.underscored, run_id="e2e-underscored")
    execute(sub.handle)
    assert [e.returncode for e in fake.executions] == [0, 0]
    report = orch.get_status_report(sub.job_id)
    assert report.status is S.COMPLETED and report.units == {"load_data": S.COMPLETED, "train_model": S.COMPLETED}
    assert sub.get_output("row_total") == 6
    records = {(r.unit, r.message) for r in orch.iter_logs(sub.job_id)}
    assert {("load_data", "loading data"), ("train_model", "training the model")} <= records
    assert {unit for unit, _ in records} == {"load_data", "train_model"}


def test_following_a_running_pipeline_with_a_settle_window_misses_nothing(fake, config, store_settings, execute):
    """Core follows while the fake runs the four tasks; every pass holds back entries younger than the
    settle window. What was followed is exactly what a read after the end returns."""
    import threading

    import attrs

    orch = orchestrator(attrs.evolve(config, log_settle_seconds=0.3, log_poll_interval=0.1), store_settings)
    sub = orch.run_pipeline(P.dag4, run_id="e2e-follow-settle")
    runner = threading.Thread(target=execute, args=(sub.handle,))
    runner.start()
    followed = [(r.unit, r.message, r.cursor) for r in orch.iter_logs(sub.job_id, follow=True)]
    runner.join(timeout=300)
    assert [e.returncode for e in fake.executions] == [0, 0, 0, 0]
    after = [(r.unit, r.message, r.cursor) for r in orch.iter_logs(sub.job_id)]
    assert followed == after and len(followed) == len(set(followed))
    assert {unit for unit, _, _ in followed} == set(UNITS)
    assert len(fake.calls("logs")) <= len(fake.calls("get"))  # never more than one log read per pass
