"""``flowyml schedule create|list|pause|resume|delete``: native schedules on a stack's backend."""

from __future__ import annotations

import argparse
from typing import Any

from flowyml.cli.main import EXIT_NOT_FOUND, EXIT_OK


def add_parser(sub: Any) -> None:
    """Add the ``schedule`` command to the ``flowyml`` sub-parsers."""
    schedule = sub.add_parser("schedule", help="run a pipeline on a cron schedule, fired by the stack's backend")
    actions = schedule.add_subparsers(dest="action", metavar="ACTION", required=True)

    def common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--stack", "-s", help="the stack from flowyml.yaml (default: the active stack)")
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")
        return parser

    create = common(actions.add_parser("create", help="create (or replace) a schedule"))
    create.add_argument("target", help="path/to/file.py[:attr] or package.module[:attr]")
    create.add_argument("--cron", required=True, help="5-field cron expression, e.g. '0 3 * * *'")
    create.add_argument("--name", required=True, help="the schedule's name; runs are <name>-<yyyymmdd-hhmmss>")
    create.add_argument("--timezone", "--tz", default="UTC", help="IANA time zone of the cron fields (default UTC)")
    create.add_argument(
        "--param", "-p", action="append", default=[], metavar="KEY=VALUE", help="a context parameter for every run"
    )
    create.add_argument("--paused", action="store_true", help="create it paused")
    common(actions.add_parser("list", help="list the stack's schedules"))
    for action, text in (("pause", "stop firing"), ("resume", "fire again"), ("delete", "remove (runs stay)")):
        common(actions.add_parser(action, help=text)).add_argument("name", help="the schedule's name")


def _row(doc: dict[str, Any]) -> str:
    state = "paused" if doc["paused"] else (doc["next_fire_time"] or "-")
    line = f"{doc['name']:<24} {doc['cron']:<16} {doc['timezone']:<14} {state:<27} {doc['pipeline_name']}"
    return line + (f"\n  {doc['message']}" if doc.get("message") else "")


def run(args: argparse.Namespace) -> int:
    from flowyml.config.errors import ConfigFieldError
    from flowyml.config.loader import load_config

    config = load_config(args.config)
    orchestrator = config.orchestrator(args.stack)
    try:
        return _run(args, orchestrator)
    except ConfigFieldError as exc:  # a setting only schedules need (e.g. a scheduler role): in the file, at its key
        raise exc.located(config.path or "flowyml.yaml", f"stacks.{orchestrator.stack}.orchestrator") from None


def _run(args: argparse.Namespace, orchestrator: Any) -> int:
    from flowyml.cli.commands import load_target, out, parse_params, print_json

    if args.action == "list":
        docs = [i.to_dict() for i in orchestrator.list_schedules()]
        if args.json:
            print_json(docs)
        elif not docs:
            out(f"no schedules on stack {orchestrator.stack} ({orchestrator.backend_name})")
        else:
            out(f"{'SCHEDULE':<24} {'CRON':<16} {'TIMEZONE':<14} {'NEXT FIRE':<27} PIPELINE")
            for doc in docs:
                out(_row(doc))
        return EXIT_OK
    if args.action == "delete":
        existed = orchestrator.delete_schedule(args.name)
        if args.json:
            print_json({"name": args.name, "deleted": existed})
        else:
            out(f"{args.name}: {'deleted' if existed else 'no such schedule'}")
        return EXIT_OK if existed else EXIT_NOT_FOUND
    if args.action == "create":
        pipeline, ref = load_target(args.target)
        info = orchestrator.schedule(
            pipeline,
            cron=args.cron,
            name=args.name,
            timezone=args.timezone,
            context=parse_params(args.param),
            pipeline_module=ref,
            paused=args.paused,
        )
    elif args.action == "pause":
        info = orchestrator.pause_schedule(args.name)
    else:
        info = orchestrator.resume_schedule(args.name)
    doc = info.to_dict()
    if args.json:
        print_json(doc)
    else:
        out(_row(doc))
    return EXIT_OK


def dispatch(args: argparse.Namespace) -> int:
    """Run the command; a flowyml error becomes its one-line message and exit code."""
    from flowyml.cli.commands import err, exit_code_for
    from flowyml.core.errors import FlowymlError

    try:
        return run(args)
    except FlowymlError as exc:
        code, prefix = exit_code_for(exc)
        err(f"{prefix}{exc}")
        return code
