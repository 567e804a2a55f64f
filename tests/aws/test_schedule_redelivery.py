"""A firing EventBridge delivers twice starts two launcher jobs at once: exactly one submits the run.

The launchers run as the fake runs any Batch job (their command + env as a local process, with
``AWS_BATCH_JOB_ID`` / ``AWS_BATCH_JOB_ATTEMPT`` as Batch sets them), both at the same moment:
the proxy holds each one's write of the firing's spec until both have reached it, so both pass
the spec claim together, as two deliveries of one firing do, and each one's listing of the run's
jobs until the other's (for at most 3 s), so neither can find jobs the other is creating.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from flowyml.core.status import ExecutionStatus as S
from flowyml.orchestrators.registry import RunRegistry
from tests.aws.aws_pipelines import diamond
from tests.aws.fake_aws import REGION
from tests.aws.test_schedules import DIAMOND_RESULT, FIRST, ROLE, play, run_batch_in_order

pytestmark = pytest.mark.aws
RUN = "nightly-20261202-020000"
UNIT_PREFIX = f"flowyml-{RUN}-"


@pytest.fixture
def orch(batch_config, artifact_root, fake):
    """A Batch stack whose store is reached through the proxy too, so the test sees each launcher's writes."""
    from flowyml.stacks.aws import AWSBatchOrchestrator

    return AWSBatchOrchestrator(
        job_queue=batch_config.job_queue,
        job_definition=batch_config.job_definition,
        endpoint_url=batch_config.endpoint_url,
        scheduler_role_arn=ROLE,
        artifact_store=artifact_root,
        store_settings={"endpoint_url": fake.proxy.endpoint, "region": REGION},
    )


def _hold_spec_writes(fake, parties: int) -> list[str]:
    """Each PUT of the firing's spec waits until ``parties`` launchers have sent theirs (then all go on)."""
    barrier = threading.Barrier(parties, timeout=60)
    held: list[str] = []

    def rule(req, forward):
        if req.path.split("?")[0].endswith(f"/runs/{RUN}/job.json"):
            held.append(req.path)
            barrier.wait()
        return forward()

    fake.proxy.add_rule("s3:put", rule)
    # and each look for the run's existing jobs (what a submit does before creating any) waits, briefly,
    # for the other launcher's: a launcher that submits without a claim of its own finds none
    listings = threading.Barrier(parties, timeout=3)

    def hold_listing(req, forward):
        values = [v for f in req.json().get("filters") or [] for v in f.get("values") or []]
        if any(v.startswith(UNIT_PREFIX) for v in values):
            try:
                listings.wait()
            except threading.BrokenBarrierError:  # only one launcher submits
                pass
        return forward()

    fake.proxy.add_rule("ListJobs", hold_listing)
    return held


def _unit_submits(fake) -> list[str]:
    return [
        c.json()["jobName"]
        for c in fake.proxy.sent("SubmitJob", injected=False)
        if c.json()["jobName"].startswith(UNIT_PREFIX)
    ]


def _log(fake, job_id: str) -> list[dict[str, Any]]:
    stream = fake.batch.describe_jobs(jobs=[job_id])["jobs"][0]["container"]["logStreamName"]
    events = fake.logs.get_log_events(logGroupName="/aws/batch/job", logStreamName=stream)["events"]
    return [json.loads(e["message"]) for e in events if e["message"].startswith("{")]


def _claim(fake, artifact_root: str) -> dict[str, Any]:
    from flowyml.orchestrators.layout import RunLayout
    from tests.aws.fake_aws import direct_client

    bucket, _, prefix = artifact_root.removeprefix("s3://").partition("/")
    body = direct_client("s3", fake.moto).get_object(Bucket=bucket, Key=f"{prefix}/{RunLayout(RUN).submitter}")
    return json.loads(body["Body"].read())


def test_two_deliveries_of_one_firing_running_at_once_submit_the_run_once(fake, orch, artifact_root) -> None:
    orch.schedule(diamond, cron="0 3 * * *", name="nightly", context={"n": 5})
    launchers = [play(fake, "nightly", FIRST)["jobId"], play(fake, "nightly", FIRST)["jobId"]]  # delivered twice
    held = _hold_spec_writes(fake, 2)
    threads = [threading.Thread(target=fake._run_batch, args=(j,)) for j in launchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert len(held) == 2, "both launchers reached the spec claim together"
    assert [fake.batch_state[j]["status"] for j in launchers] == ["SUCCEEDED", "SUCCEEDED"]

    units = _unit_submits(fake)
    assert sorted(units) == sorted(set(units)) and len(units) == 4, units  # one set of unit jobs
    owner = _claim(fake, artifact_root)["launcher_job_id"]
    (loser,) = [j for j in launchers if j != owner]
    said = [r["message"] for r in _log(fake, loser)]
    assert any(f"is submitted by launcher job {owner}" in m and loser in m for m in said), said
    assert any(r["message"] == f"schedule nightly: submitted run {RUN}" for r in _log(fake, owner))

    (info,) = orch.list_schedules()
    assert info.last_run_id == RUN and info.message is None
    handle = RunRegistry().get(RUN).handle
    assert len(handle.units) == 4
    run_batch_in_order(fake, handle)
    assert orch.get_status_report(RUN).status is S.COMPLETED
    assert orch.load_output(handle, "result") == DIAMOND_RESULT


def test_a_retried_attempt_of_the_owner_submits_and_a_later_delivery_does_not(fake, orch, artifact_root) -> None:
    """The owner dies after its claim (its first attempt fails before any job exists): Batch's retry
    attempt has the same AWS_BATCH_JOB_ID, so it owns the claim and submits; a second delivery does not."""
    orch.schedule(diamond, cron="0 3 * * *", name="nightly", context={"n": 5})
    fake.batch_retries = True
    owner = play(fake, "nightly", FIRST)["jobId"]
    fake.proxy.fail(["DescribeJobDefinitions"], 1, status=400, code="ClientException")  # attempt 1 ends here
    fake._run_batch(owner)
    attempts = [r for r in _log(fake, owner) if "could not submit its run" in r["message"]]
    assert len(attempts) == 1 and "ClientException" in attempts[0]["message"]  # the first attempt failed
    assert fake.batch_state[owner]["status"] == "SUCCEEDED" and len(_unit_submits(fake)) == 4
    claim = _claim(fake, artifact_root)
    assert claim["launcher_job_id"] == owner and claim["attempt"] == "1"  # claimed by the attempt that died

    second = play(fake, "nightly", FIRST)["jobId"]
    fake._run_batch(second)
    assert fake.batch_state[second]["status"] == "SUCCEEDED" and len(_unit_submits(fake)) == 4
    assert any(f"is submitted by launcher job {owner}" in r["message"] for r in _log(fake, second))
    (info,) = orch.list_schedules()  # records the run
    assert info.last_run_id == RUN and info.message is None
    handle = RunRegistry().get(RUN).handle
    run_batch_in_order(fake, handle)
    assert orch.get_status_report(RUN).status is S.COMPLETED


def test_an_owner_that_dies_for_good_shows_in_schedule_list_after_the_other_delivery(fake, orch) -> None:
    """Every attempt of the owner fails after its claim; the second delivery exits 0 naming it, and
    ``schedule list`` still says the firing submitted no run, with the owner's job id."""
    orch.schedule(diamond, cron="0 3 * * *", name="nightly")
    fake.batch_retries = True
    owner = play(fake, "nightly", FIRST)["jobId"]
    with fake.faults("submit", 50, status=400, code="ClientException"):  # e.g. its role may not submit jobs
        fake._run_batch(owner)
    assert fake.batch_state[owner]["status"] == "FAILED"
    second = play(fake, "nightly", FIRST)["jobId"]  # the newer launcher job of the firing
    fake._run_batch(second)
    assert fake.batch_state[second]["status"] == "SUCCEEDED"
    assert any(f"is submitted by launcher job {owner}" in r["message"] for r in _log(fake, second))
    (info,) = orch.list_schedules()
    assert info.last_run_id == RUN and info.message and "could not submit its run" in info.message
    assert owner in info.message and second not in info.message
