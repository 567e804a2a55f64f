"""The launcher job of an ``aws_batch`` schedule's firing (``python -m flowyml_aws.fire``).

EventBridge Scheduler submits it with ``--job <template> --schedule <name> --fire-time <time>``.
It writes the firing's own job spec from the template (create-only: a firing delivered twice
writes it once), then claims the submission of the firing's run, create-only, in the run's
``submitter.json``: EventBridge delivers at least once, so two launchers of one firing may run
at the same moment, and only the one whose Batch job id (``AWS_BATCH_JOB_ID``, the same in every
retry attempt of a job) is in the claim submits. The other exits 0, naming the owner. The owner
submits the run through the backend's normal, idempotent submit (a retried attempt finds the jobs
an earlier attempt made), with the job's role as credentials, and exits 0 once the run's jobs
exist; its log is the firing's.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

from flowyml.runner import EXIT_OK, EXIT_SETUP_FAILED, emit

#: set by Batch in every container: the job's id, kept across its retry attempts
JOB_ID_ENV = "AWS_BATCH_JOB_ID"
ATTEMPT_ENV = "AWS_BATCH_JOB_ATTEMPT"


def claim_submission(store: Any, run_id: str, launcher: str) -> dict[str, Any]:
    """The claim of the launcher that submits ``run_id``: ours if no launcher claimed it first.

    Create-only, so of two launchers racing exactly one writes it; a retry attempt of the owner
    (same ``launcher`` id) reads its own claim back and goes on.
    """
    from flowyml.orchestrators.layout import RunLayout

    key = RunLayout(run_id).submitter
    doc = {"launcher_job_id": launcher, "attempt": os.environ.get(ATTEMPT_ENV), "claimed_at": round(time.time(), 3)}
    if store.write_json(key, doc, create_only=True):
        return doc
    return dict(store.read_json(key))


def main(argv: Sequence[str] | None = None) -> int:
    from flowyml_aws.batch_schedules import CONFIG_ENV

    parser = argparse.ArgumentParser(prog="python -m flowyml_aws.fire", description=__doc__.splitlines()[0])
    parser.add_argument("--job", required=True, help="URI of the schedule's job spec template")
    parser.add_argument("--schedule", required=True, help="the schedule's name")
    parser.add_argument("--fire-time", required=True, help="the firing's time (RFC 3339), which names the run")
    args = parser.parse_args(argv)
    # outside Batch (no job id) this process is its own owner: no other process can share the claim
    me = os.environ.get(JOB_ID_ENV) or f"pid-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    try:
        from flowyml.artifacts.store import store_for_root
        from flowyml.orchestrators.layout import RunLayout
        from flowyml.plugins.schedules import claim_firing, parse_fire_time
        from flowyml.plugins.types import JobSpec, store_settings_from_env
        from flowyml_aws import batch
        from flowyml_aws.config import AWSBatchConfig

        config = AWSBatchConfig(**json.loads(os.environ[CONFIG_ENV]))
        store = store_for_root(RunLayout.artifact_root_of(args.job), store_settings_from_env())
        template = JobSpec.from_dict(store.read_json(args.job))
        job = claim_firing(store, template, args.schedule, parse_fire_time(args.fire_time))
        owner = str(claim_submission(store, job.run_id, me).get("launcher_job_id"))
        if owner != me:
            emit(
                "INFO",
                f"schedule {args.schedule}: run {job.run_id} is submitted by launcher job {owner}, which claimed "
                f"this firing first (this launcher, {me}, is a second delivery of it): nothing to do",
                run_id=job.run_id,
                owner=owner,
            )
            return EXIT_OK
        handle = batch.submit(job, config)
    except Exception as exc:
        what = f"{type(exc).__name__}: {exc}"
        emit("ERROR", f"schedule {args.schedule}: the firing at {args.fire_time} could not submit its run: {what}")
        return EXIT_SETUP_FAILED
    emit("INFO", f"schedule {args.schedule}: submitted run {job.run_id}", run_id=job.run_id, units=handle.units)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
