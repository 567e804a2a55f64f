"""The launcher job of an ``aws_batch`` schedule's firing (``python -m flowyml_aws.fire``).

EventBridge Scheduler submits it with ``--job <template> --schedule <name> --fire-time <time>``.
It writes the firing's own job spec from the template (create-only: a firing delivered twice
writes it once) and submits that run through the backend's normal, idempotent submit, with the
job's role as credentials. It exits 0 once the run's jobs exist; its log is the firing's.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence

from flowyml.runner import EXIT_OK, EXIT_SETUP_FAILED, emit


def main(argv: Sequence[str] | None = None) -> int:
    from flowyml_aws.batch_schedules import CONFIG_ENV

    parser = argparse.ArgumentParser(prog="python -m flowyml_aws.fire", description=__doc__.splitlines()[0])
    parser.add_argument("--job", required=True, help="URI of the schedule's job spec template")
    parser.add_argument("--schedule", required=True, help="the schedule's name")
    parser.add_argument("--fire-time", required=True, help="the firing's time (RFC 3339), which names the run")
    args = parser.parse_args(argv)
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
        handle = batch.submit(job, config)
    except Exception as exc:
        what = f"{type(exc).__name__}: {exc}"
        emit("ERROR", f"schedule {args.schedule}: the firing at {args.fire_time} could not submit its run: {what}")
        return EXIT_SETUP_FAILED
    emit("INFO", f"schedule {args.schedule}: submitted run {job.run_id}", run_id=job.run_id, units=handle.units)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
