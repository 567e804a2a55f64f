"""aws_batch against moto through the fault proxy: what we send, every state, cancel, logs, polling, e2e.

moto cannot run a container: the fake runs each job's command + env as a local subprocess
instead (the image is ignored), so these tests prove the requests, the wiring and the state
handling — not that the job definition's image, IAM role or network work in a real account.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

import flowyml
from flowyml.core.errors import AuthError, ConfigError, RefusedError, RunNotFoundError, TransientBackendError
from flowyml.core.status import ExecutionStatus as S
from flowyml.orchestrators.layout import RunLayout
from flowyml.plugins.manager import get_plugin_manager
from flowyml.plugins.types import JobSpec, PipelineRef, RunHandle, UnitSpec
from flowyml.testing import pipelines as kit
from flowyml_aws import names, states
from tests.aws.aws_pipelines import diamond, failing_chain

pytestmark = pytest.mark.aws


@pytest.fixture
def orch(batch_config, artifact_root, store_settings):
    from flowyml.stacks.aws import AWSBatchOrchestrator

    return AWSBatchOrchestrator(
        job_queue=batch_config.job_queue,
        job_definition=batch_config.job_definition,
        endpoint_url=batch_config.endpoint_url,
        parameters={"stage": "test"},
        artifact_store=artifact_root,
        store_settings=store_settings,
    )


def _sent_jobs(fake) -> dict[str, dict]:
    return {c.json()["jobName"]: c.json() for c in fake.proxy.sent("SubmitJob", injected=False)}


def test_dag_becomes_depends_on_with_per_unit_resources_command_and_env(fake, orch, artifact_root) -> None:
    sub = orch.run_pipeline(diamond, run_id="dag-1")
    spec = JobSpec.from_json(_read_spec(fake, artifact_root, "dag-1"))
    sent = _sent_jobs(fake)
    ids = sub.handle.units
    assert list(ids) == ["load", "double", "square", "combine"]
    by_unit = {body["tags"]["flowyml:unit"]: body for body in sent.values()}
    assert set(by_unit) == set(ids)
    # the DAG, as moto received it
    assert "dependsOn" not in by_unit["load"]
    assert by_unit["double"]["dependsOn"] == [{"jobId": ids["load"], "type": "SEQUENTIAL"}]
    assert by_unit["square"]["dependsOn"] == [{"jobId": ids["load"], "type": "SEQUENTIAL"}]
    assert {d["jobId"] for d in by_unit["combine"]["dependsOn"]} == {ids["double"], ids["square"]}
    # per-unit resources (moto echoes the job definition's values, so assert the wire)
    assert by_unit["load"]["containerOverrides"]["resourceRequirements"] == [
        {"type": "VCPU", "value": "2"},
        {"type": "MEMORY", "value": "4096"},
    ]
    assert by_unit["double"]["containerOverrides"]["resourceRequirements"] == [
        {"type": "VCPU", "value": "1"},
        {"type": "MEMORY", "value": "2048"},
        {"type": "GPU", "value": "1"},
    ]
    assert "resourceRequirements" not in by_unit["square"]["containerOverrides"]
    for unit, body in by_unit.items():
        assert body["containerOverrides"]["command"] == spec.unit_command(unit)
        env = {e["name"]: e["value"] for e in body["containerOverrides"]["environment"]}
        assert env == {**spec.unit_env(unit), "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
        assert body["jobName"] == names.batch_job_name("flowyml", "dag-1", unit)
        assert body["jobQueue"] == "flowyml-queue" and body["jobDefinition"] == "flowyml-step:1"
        assert body["parameters"] == {"stage": "test"}
        assert body["tags"]["flowyml:run-id"] == "dag-1"
    # moto stored what we sent
    described = fake.batch.describe_jobs(jobs=[ids["combine"]])["jobs"][0]
    assert {d["jobId"] for d in described["dependsOn"]} == {ids["double"], ids["square"]}
    assert sub.job_id == ids["combine"]


def _read_spec(fake, artifact_root: str, run_id: str) -> str:
    from tests.aws.fake_aws import direct_client

    bucket, _, prefix = artifact_root.removeprefix("s3://").partition("/")
    obj = direct_client("s3", fake.moto).get_object(Bucket=bucket, Key=f"{prefix}/{RunLayout(run_id).spec}")
    return obj["Body"].read().decode()


@pytest.mark.parametrize(("native", "expected"), sorted(states.BATCH_STATES.items()))
def test_every_batch_state_maps_through_the_one_table(fake, orch, native: str, expected: S) -> None:
    sub = orch.run_pipeline(kit.two_units, run_id=f"state-{native.lower()}")
    fake.set_state(sub.handle, native)
    report = orch.get_status_report(sub.run_id)
    assert report.status is expected
    assert report.native_state == f"prep={native}, total={native}"
    assert set(report.units.values()) == {expected}


def test_failed_jobs_carry_reason_and_exit_code_timeouts_and_cancels_refine(fake, orch) -> None:
    sub = orch.run_pipeline(kit.two_units, run_id="refine")
    fake.set_state(sub.handle, "FAILED", reason="Essential container in task exited")
    report = orch.get_status_report(sub.run_id)
    assert report.status is S.FAILED
    assert "unit prep: Essential container in task exited (exit code 1)" in report.message
    fake.set_state(sub.handle, "FAILED", reason=states.BATCH_TIMEOUT_REASON)
    assert orch.get_run_status(sub.run_id) is S.TIMED_OUT
    fake.set_state(sub.handle, "FAILED", reason=f"{states.CANCEL_REASON} (run refine)")
    assert orch.get_run_status(sub.run_id) is S.CANCELLED


def test_mixed_unit_states_aggregate(fake, orch) -> None:
    sub = orch.run_pipeline(kit.two_units, run_id="mixed")
    prep, total = sub.handle.units["prep"], sub.handle.units["total"]
    fake.batch_state[prep] = {"status": "SUCCEEDED", "exitCode": 0}
    fake.batch_state[total] = {"status": "PENDING"}
    assert orch.get_run_status(sub.run_id) is S.QUEUED
    fake.batch_state[total] = {"status": "STARTING"}
    assert orch.get_run_status(sub.run_id) is S.PROVISIONING
    fake.batch_state[total] = {"status": "RUNNING"}
    report = orch.get_status_report(sub.run_id)
    assert report.status is S.RUNNING and report.units == {"prep": S.COMPLETED, "total": S.RUNNING}


def test_cancel_queued_jobs_uses_cancel_job(fake, orch) -> None:
    sub = orch.run_pipeline(kit.two_units, run_id="cancel-queued")
    fake.set_state(sub.handle, "RUNNABLE")
    orch.stop_run(sub.run_id)
    assert len(fake.proxy.sent("CancelJob", injected=False)) == 2
    assert fake.proxy.sent("TerminateJob") == []
    assert orch.get_run_status(sub.run_id) is S.CANCELLED
    moto_job = fake.batch.describe_jobs(jobs=[sub.handle.units["prep"]])["jobs"][0]
    assert moto_job["tags"][states.CANCEL_TAG]  # the mark any process can see


def test_cancel_running_job_uses_terminate_and_reads_stopping_until_confirmed(fake, orch) -> None:
    sub = orch.run_pipeline(kit.two_units, run_id="cancel-running")
    prep, total = sub.handle.units["prep"], sub.handle.units["total"]
    fake.batch_state[prep] = {"status": "RUNNING", "startedAt": int(time.time() * 1000)}
    fake.batch_state[total] = {"status": "PENDING"}
    orch.stop_run(sub.run_id)
    assert [c.json()["jobId"] for c in fake.proxy.sent("TerminateJob")] == [prep]
    assert [c.json()["jobId"] for c in fake.proxy.sent("CancelJob")] == [total]
    report = orch.get_status_report(sub.run_id)
    assert report.status is S.STOPPING
    fake.settle(sub.handle)  # AWS confirms: the container stopped
    report = orch.get_status_report(sub.run_id)
    assert report.status is S.CANCELLED
    calls = len(fake.proxy.calls)
    orch.stop_run(sub.run_id)  # idempotent: nothing left to stop
    assert not [c for c in fake.proxy.calls[calls:] if c.action in ("canceljob", "terminatejob")]


def test_logs_by_cursor_and_followed_live(fake, orch) -> None:
    sub = orch.run_pipeline(kit.two_units, run_id="logs-live")
    fake.set_state(sub.handle, "RUNNING")
    streams = {
        u: fake.batch.describe_jobs(jobs=[j])["jobs"][0]["container"]["logStreamName"]
        for u, j in sub.handle.units.items()
    }
    fake._write_logs("/aws/batch/job", streams["prep"], [f"prep line {i}" for i in range(5)])
    first = list(orch.iter_logs(sub.run_id))
    assert [r.message for r in first] == [f"prep line {i}" for i in range(5)]
    assert {r.unit for r in first} == {"prep"}
    resumed = list(orch.iter_logs(sub.run_id, cursor=first[1].cursor))
    assert [r.message for r in resumed] == [f"prep line {i}" for i in range(2, 5)]
    assert list(orch.iter_logs(sub.run_id, cursor=first[-1].cursor)) == []

    def produce() -> None:
        time.sleep(0.3)
        fake._write_logs("/aws/batch/job", streams["total"], ['{"ts": 1.5, "severity": "ERROR", "message": "late"}'])
        time.sleep(0.3)
        fake.set_state(sub.handle, "SUCCEEDED")

    writer = threading.Thread(target=produce)
    writer.start()
    followed = list(orch.iter_logs(sub.run_id, cursor=first[-1].cursor, follow=True))
    writer.join()
    assert [(r.unit, r.message, r.severity, r.timestamp) for r in followed] == [("total", "late", "ERROR", 1.5)]


def test_throttling_everywhere_never_reports_failed(fake, orch) -> None:
    with fake.faults("submit", 3):
        sub = orch.run_pipeline(kit.two_units, run_id="throttled")
    assert fake.count_creates(sub.handle) == 2
    fake.set_state(sub.handle, "RUNNING")
    with fake.faults("status", 3, status=503, code="ServiceUnavailable"):
        assert orch.get_run_status(sub.run_id) is S.RUNNING
    with fake.faults("status", 100), pytest.raises(TransientBackendError):
        orch.get_run_status(sub.run_id)
    assert orch.registry.get(sub.run_id).status is S.RUNNING  # the unknown status was not recorded
    fake._write_logs(
        "/aws/batch/job",
        fake.batch.describe_jobs(jobs=[sub.handle.units["prep"]])["jobs"][0]["container"]["logStreamName"],
        ["a", "b"],
    )
    with fake.faults("logs", 3):
        assert [r.message for r in orch.iter_logs(sub.run_id)] == ["a", "b"]
    with fake.faults("cancel", 3):
        orch.stop_run(sub.run_id)
    fake.settle(sub.handle)
    assert orch.get_run_status(sub.run_id) is S.CANCELLED


def test_a_submit_whose_response_was_lost_does_not_create_a_second_job(fake, orch) -> None:
    lost = {"n": 0}

    def lose_first_answer(req, forward):
        reply = fake._on_submit(req, forward)
        if lost["n"] == 0:
            lost["n"] += 1
            from tests.aws.fault_proxy import error_reply

            return error_reply(req, 500, "InternalFailure", "the answer got lost")
        return reply

    fake.proxy.add_rule("SubmitJob", lose_first_answer)
    sub = orch.run_pipeline(kit.slow, run_id="lost-answer")
    assert len(fake.proxy.sent("SubmitJob")) == 1
    listed = fake.batch.list_jobs(
        jobQueue="flowyml-queue", filters=[{"name": "JOB_NAME", "values": ["flowyml-lost-answer-*"]}]
    )
    assert [j["jobId"] for j in listed["jobSummaryList"]] == [sub.job_id]


def test_polling_500_runs_costs_at_most_5_describe_jobs_per_round(fake, orch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from flowyml_aws.batch import poll_many

    def make(i: int) -> RunHandle:
        job_id = fake.batch.submit_job(
            jobName=f"flowyml-many-{i}-u", jobQueue="flowyml-queue", jobDefinition="flowyml-step"
        )["jobId"]
        fake.batch_state[job_id] = {"status": "RUNNING" if i % 2 else "RUNNABLE"}
        return RunHandle(backend="aws_batch", run_id=f"many-{i}", job_id=job_id, units={"u": job_id})

    with ThreadPoolExecutor(8) as pool:
        handles = list(pool.map(make, range(500)))
    for _round in range(2):
        before = len(fake.proxy.sent("DescribeJobs"))
        reports = poll_many(handles, orch.config)
        assert len(fake.proxy.sent("DescribeJobs")) - before <= 5
        assert len(reports) == 500 and {r.status for r in reports.values()} == {S.RUNNING, S.QUEUED}
        assert all(c.status == 200 for c in fake.proxy.sent("DescribeJobs"))  # never more than 100 ids
    # the orchestrator's bulk call is the same code path, with the registry; an expired run reads UNKNOWN
    gone = RunHandle(backend="aws_batch", run_id="gone", job_id="0000", units={"u": "0000"})
    for h in [*handles[:3], gone]:
        orch.registry.record(h)
    before = len(fake.proxy.sent("DescribeJobs"))
    reports = orch.get_run_statuses([h.run_id for h in [*handles[:3], gone]])
    assert len(fake.proxy.sent("DescribeJobs")) - before == 1
    assert orch.registry.get("many-1").status is S.RUNNING
    assert reports["gone"].status is S.UNKNOWN and "no job" in reports["gone"].message
    with pytest.raises(RunNotFoundError):
        orch.get_run_status("gone")


def test_details_have_ids_queue_timings_exit_codes_and_console_urls(fake, orch) -> None:
    sub = orch.run_pipeline(kit.two_units, run_id="details")
    fake.set_state(sub.handle, "FAILED")
    details = orch.get_run_details(sub.run_id)
    assert details["job_queue"] == "flowyml-queue" and details["status"] == "FAILED"
    prep = details["units"]["prep"]
    assert prep["job_id"] == sub.handle.units["prep"] and prep["exit_code"] == 1
    assert prep["status_reason"] == "Essential container in task exited"
    assert prep["created_at"] and prep["started_at"] and prep["log_stream"].endswith(prep["job_id"])
    assert prep["console_url"].startswith("https://us-east-1.console.aws.amazon.com/batch/")
    assert details["units"]["total"]["depends_on"] == [prep["job_id"]]
    json.dumps(details)


def test_end_to_end_the_fake_runs_what_we_submitted(fake, orch) -> None:
    sub = orch.run_pipeline(diamond, run_id="e2e-batch", context={"n": 5})
    fake.execute(sub.handle)
    assert sub.wait_for_completion(timeout=60, poll_interval=0.1) is S.COMPLETED
    assert sub.get_output("result") == 2 * 15 + 55
    attached = flowyml.attach("e2e-batch")  # the registry's copy of the handle (JSON, sorted keys)
    messages = [r.message for r in attached.logs()]
    assert messages.index("loading 5 rows") < messages.index("doubling") < messages.index("combining")
    assert attached.get_output("result") == 55 + 30


def test_end_to_end_failure_propagates_to_dependants(fake, orch) -> None:
    sub = orch.run_pipeline(failing_chain, run_id="e2e-fail")
    fake.execute(sub.handle)
    report = orch.get_status_report(sub.run_id)
    assert report.status is S.FAILED
    assert "exit code 1" in report.message and "Dependent Job failed" in report.message
    assert any("broken on purpose" in r.message for r in sub.logs())


def _spec(run_id: str = "u1") -> JobSpec:
    return JobSpec(
        run_id=run_id,
        pipeline_name="p",
        pipeline=PipelineRef(module="m"),
        units=[UnitSpec("u", ["s"])],
        artifact_root="s3://b/a",
    )


def test_missing_settings_give_errors_naming_what_to_set(fake, monkeypatch, batch_config) -> None:
    import attrs

    from flowyml_aws import client

    with pytest.raises(ConfigError, match="job_queue"):
        attrs.evolve(batch_config, job_queue=None).validate()
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    client.CLIENTS.clear()
    with pytest.raises(ConfigError, match="AWS_REGION"):
        get_plugin_manager().submit(_spec("noregion"), "aws_batch", attrs.evolve(batch_config, region=None))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    client.CLIENTS.clear()
    try:
        with pytest.raises(AuthError, match="AWS_ACCESS_KEY_ID") as info:
            get_plugin_manager().submit(_spec("nocreds"), "aws_batch", batch_config)
        assert "\n" not in str(info.value)
    finally:
        client.CLIENTS.clear()
    assert fake.proxy.sent("SubmitJob") == []


@pytest.mark.parametrize(
    ("status", "code", "error", "hint"),
    [
        (400, "AccessDeniedException", AuthError, "permission"),
        (403, "UnrecognizedClientException", AuthError, "AWS_ACCESS_KEY_ID"),
        (403, "ExpiredTokenException", AuthError, "refresh"),
        (400, "ValidationException", RefusedError, "ValidationException: injected"),
        (400, "ClientException", RefusedError, "ClientException: injected"),
    ],
)
def test_aws_errors_become_typed_flowyml_errors_without_a_traceback(
    fake, batch_config, status: int, code: str, error: type, hint: str
) -> None:
    """What AWS answers at the HTTP boundary reaches the user as one typed line (the CLI maps the type)."""
    fake.proxy.fail(["SubmitJob"], 1, status=status, code=code)
    with pytest.raises(error) as info:
        get_plugin_manager().submit(_spec(f"typed-{code.lower()}"), "aws_batch", batch_config)
    text = str(info.value)
    assert hint in text and code in text and "Traceback" not in text and "\n" not in text
    assert text.startswith("aws_batch")
    with pytest.raises(error):  # the same through status: every operation is translated
        fake.proxy.fail(["DescribeJobs"], 1, status=status, code=code)
        get_plugin_manager().status(
            RunHandle(backend="aws_batch", run_id="r", job_id="j", units={"u": "j"}), batch_config
        )


@pytest.mark.parametrize("field", ["job_queue", "job_definition"])
def test_unknown_queue_or_definition_is_a_clear_backend_error(fake, batch_config, field: str) -> None:
    import attrs

    from flowyml.core.errors import BackendError

    spec = JobSpec(
        run_id="unknown",
        pipeline_name="p",
        pipeline=PipelineRef(module="m"),
        units=[UnitSpec("u", ["s"])],
        artifact_root="s3://b/a",
    )
    config = attrs.evolve(batch_config, **{field: "nope"})
    with pytest.raises(BackendError, match=r"nope does not exist"):
        get_plugin_manager().submit(spec, "aws_batch", config)


def test_cancel_without_tag_permission_still_cancels(fake, orch) -> None:
    from tests.aws.fault_proxy import error_reply

    fake.proxy.add_rule("TagResource", lambda req, fwd: error_reply(req, 403, "AccessDeniedException", "no"))
    sub = orch.run_pipeline(kit.two_units, run_id="no-tag")
    orch.stop_run(sub.run_id)
    assert len(fake.proxy.sent("CancelJob")) == 2
    assert orch.get_run_status(sub.run_id) is S.CANCELLED  # from the cancel reason Batch reports
