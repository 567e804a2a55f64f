"""``flowyml resume RUN [--from STEP] [--run-id NEW] [--detach] [--json]``: a new run from a failed one.

Units the run completed are reused (their outputs read from its artifacts); the rest runs, on the
run's own backend. A run made in-process (``flowyml run FILE`` without ``--stack``) resumes
in-process; with ``--detach`` it resumes on the ``local`` backend instead.
"""

from __future__ import annotations

import argparse
from typing import Any

INPROCESS = "inprocess"  # flowyml.backends.inprocess.NAME, kept here so --help imports nothing


def add_parser(sub: Any) -> None:
    """Register the ``resume`` subcommand on the CLI's subparsers."""
    resume = sub.add_parser(
        "resume",
        help="re-run a failed or cancelled run: completed steps are reused, the rest runs",
        description="Start a new run from RUN: units it completed are not executed again (their outputs are "
        "reused); the failed unit and everything downstream run, on RUN's backend.",
    )
    resume.add_argument("run_id", metavar="RUN", help="the run to resume (as `flowyml runs` lists it)")
    resume.add_argument(
        "--from",
        dest="from_step",
        metavar="STEP",
        help="also re-run STEP and everything downstream of it (works on a completed run too)",
    )
    resume.add_argument("--run-id", dest="new_run_id", metavar="NEW", help="the new run's id (default: generated)")
    resume.add_argument(
        "--detach", "-d", action="store_true", help="return at once with the new run id (in-process runs: on local)"
    )
    resume.add_argument("--json", action="store_true", help='print a JSON object (with "run_id") instead of text')


def hint(run_id: str) -> str:
    """The line printed after a failure: how to resume the run (as Kedro and Metaflow do)."""
    return f"resume it (completed steps are reused): flowyml resume {run_id}"


def cmd_resume(args: argparse.Namespace) -> int:
    from flowyml.cli.commands import _orchestrator_for, _wait, err
    from flowyml.orchestrators.resume import plan_for

    orchestrator, record = _orchestrator_for(args.run_id)
    if record.handle.backend == INPROCESS:
        return _resume_in_process(args, record)
    plan = plan_for(orchestrator, record.run_id, args.from_step, args.new_run_id)
    err(f"resuming {record.run_id} as {plan.spec.run_id}: {plan.describe()}")
    sub = orchestrator.submit_spec(plan.spec)
    if args.detach:
        return _detached(args, sub, plan)
    return int(_wait(sub, args.json))  # after a failure, _wait prints how to resume this run in turn


def _detached(args: argparse.Namespace, sub: Any, plan: Any) -> int:
    from flowyml.cli.commands import err, out, print_json

    if args.json:
        print_json(
            {
                "run_id": sub.run_id,
                "job_id": sub.job_id,
                "backend": sub.handle.backend,
                "resumed_from": plan.source.run_id,
                "reused": plan.reused_units,
                "status": "SUBMITTED",
            }
        )
    else:
        out(sub.run_id)
        err(f"follow with: flowyml logs -f {sub.run_id}")
    return 0


def _resume_in_process(args: argparse.Namespace, record: Any) -> int:
    """A run made in-process resumes in-process (with --detach: on the local backend)."""
    import contextlib
    import sys

    from flowyml.cli.commands import _print_run, err
    from flowyml.orchestrators.inprocess import execute, plan_in_process
    from flowyml.runner import load_pipeline

    orchestrator, plan = plan_in_process(record.run_id, args.from_step, args.new_run_id)
    if args.detach:
        from flowyml.orchestrators.remote import RemoteOrchestrator

        local = RemoteOrchestrator.for_backend("local", artifact_store=record.handle.artifact_root)
        err(f"resuming {record.run_id} as {plan.spec.run_id} on the local backend: {plan.describe()}")
        return _detached(args, local.submit_spec(plan.spec), plan)
    err(f"resuming {record.run_id} as {plan.spec.run_id} in this process: {plan.describe()}")
    from flowyml.cli.live import announce_steps

    redirect = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with redirect, announce_steps(parallel=False):
        result = execute(orchestrator, load_pipeline(plan.spec.pipeline), plan.spec)
    return _print_run(result, args.json)
