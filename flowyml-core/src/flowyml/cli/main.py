"""``flowyml``: argument parsing and dispatch. Heavy imports happen inside the commands.

Exit codes scripts can rely on: 0 success; 1 the run failed, was cancelled or timed out;
2 bad usage or configuration; 3 run or backend not found; 4 the backend could not be
reached (state unknown); 5 the backend refused the request (credentials, permissions, quota);
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from flowyml.cli import completion, dag

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_UNREACHABLE, EXIT_BACKEND, EXIT_INTERRUPTED = (
    0,
    1,
    2,
    3,
    4,
    5,
    130,
)


CONFIG_HELP = "path of flowyml.yaml (default: $FLOWYML_CONFIG or ./flowyml.yaml)"
JSON_HELP = "print JSON instead of text"
RUN_ID_HELP = "the run id (or the backend's job id), as `flowyml runs` lists it"


def build_parser() -> argparse.ArgumentParser:
    from flowyml import __version__

    parser = argparse.ArgumentParser(
        prog="flowyml",
        description="Run ML pipelines anywhere: locally, or on Vertex AI, AWS Batch, SageMaker, Azure ML.",
    )
    parser.add_argument("--version", action="version", version=f"flowyml {__version__}", help="print the version")
    parser.add_argument("--config", help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a pipeline here, or submit it to a stack")
    run.add_argument("target", help="path/to/file.py[:attr] or package.module[:attr]")
    run.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a context parameter (value parsed as YAML: 0.1, true, [1,2])",
    )
    run.add_argument("--stack", "-s", help="submit to this stack from flowyml.yaml (e.g. local)")
    run.add_argument(
        "--detach", "-d", action="store_true", help="submit and return at once with the run id (stack: local unless -s)"
    )
    run.add_argument("--run-id", help="run id (default: generated)")
    run.add_argument("--max-workers", type=int, default=1, help="in-process: run independent steps at once")
    run.add_argument("--no-cache", action="store_true", help="in-process: ignore the step cache")
    run.add_argument("--json", action="store_true", help="print a JSON object instead of the summary")

    runs = sub.add_parser("runs", help="list recent runs from the run registry, newest first")
    runs.add_argument("--limit", "-n", type=int, default=20, help="show at most this many runs (default 20)")
    runs.add_argument(
        "--status",
        action="append",
        default=[],
        metavar="STATUS",
        help="only runs in this state, e.g. failed or running (repeat or comma-separate for several)",
    )
    runs.add_argument("--pipeline", help="only runs of this pipeline (shell-style wildcards allowed: 'train-*')")
    runs.add_argument(
        "--since", metavar="WHEN", help="only runs started since: a duration ago (30m, 2h, 7d) or a date (2026-12-01)"
    )
    runs.add_argument("--backend", help="only runs on this backend (local, vertex_ai, aws_batch, ...)")
    runs.add_argument("--json", action="store_true", help="print a JSON list of rows (with start, end, duration)")
    runs.add_argument(
        "--quiet", "-q", action="store_true", help="print only the run ids, one a line (no backend is asked)"
    )

    status = sub.add_parser("status", help="a run's status and its units in DAG order, as the backend reports now")
    status.add_argument("run_id", help=RUN_ID_HELP)
    status.add_argument("--details", action="store_true", help="include what the backend knows of the run")
    status.add_argument("--json", action="store_true", help=JSON_HELP)

    logs = sub.add_parser("logs", help="a run's logs")
    logs.add_argument("run_id", help=RUN_ID_HELP)
    logs.add_argument("--follow", "-f", action="store_true", help="keep following until the run ends")
    logs.add_argument("--cursor", help="resume after this cursor (from --json output)")
    logs.add_argument("--json", action="store_true", help="one JSON object per line, with its cursor")

    cancel = sub.add_parser("cancel", help="stop a run")
    cancel.add_argument("run_id", help=RUN_ID_HELP)
    cancel.add_argument("--force", action="store_true", help="kill at once instead of a graceful stop")
    cancel.add_argument("--wait", action="store_true", help="wait until the backend confirms")
    cancel.add_argument("--json", action="store_true", help=JSON_HELP)

    plugins = sub.add_parser("plugins", help="list installed backends and plugins")
    plugins.add_argument("--json", action="store_true", help=JSON_HELP)

    stack = sub.add_parser("stack", help="inspect the stacks of flowyml.yaml")
    stack.add_argument(
        "action",
        choices=["list", "show", "validate"],
        help="list: the stacks (* marks the active one); show: one stack's settings; validate: check the fields",
    )
    stack.add_argument("name", nargs="?", help="the stack (show: required; validate: default all)")
    stack.add_argument("--json", action="store_true", help=JSON_HELP)

    from flowyml.cli.schedule import add_parser as add_schedule_parser

    add_schedule_parser(sub)
    dag.add_parser(sub)
    from flowyml.cli.resume import add_parser as add_resume_parser

    add_resume_parser(sub)
    completion.add_parser(sub)
    sub.add_parser("step-runner", help="run one execution unit (inside a job's container)", add_help=False)
    _accept_config_everywhere(parser)
    return parser


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's sub-commands by name (aliases left out), in the order they were added."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                if child not in found.values():
                    found[name] = child
    return found


def _accept_config_everywhere(parser: argparse.ArgumentParser) -> None:
    """``--config`` also after the sub-command (``flowyml run x.py --config ci.yaml``).

    The copies default to SUPPRESS, so one that is not given leaves the top-level value alone.
    """
    for name, child in subparsers(parser).items():
        if name != "step-runner":
            child.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
            _accept_config_everywhere(child)


@contextmanager
def _config_file(path: str | None) -> Iterator[None]:
    """``--config`` as ``$FLOWYML_CONFIG`` while the command runs: re-attaching commands (status, logs,
    cancel) read the run's stack from it too. Restored after, for callers of :func:`main` in-process."""
    import os

    if not path:
        yield
        return
    before = os.environ.get("FLOWYML_CONFIG")
    os.environ["FLOWYML_CONFIG"] = os.path.abspath(path)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("FLOWYML_CONFIG", None)
        else:
            os.environ["FLOWYML_CONFIG"] = before


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if sys.stdout is None:  # started with stdout closed (`>&-`): output goes nowhere, the command still runs
        from flowyml.cli.commands import _silence_stdout

        _silence_stdout()
    if args_list[:1] == ["step-runner"]:
        from flowyml.runner import main as runner_main

        return runner_main(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    from flowyml.cli import commands, schedule

    try:
        with _config_file(args.config):
            return schedule.dispatch(args) if args.command == "schedule" else commands.dispatch(args)
    except KeyboardInterrupt:
        commands.err("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # not a flowyml error: one line, the traceback only on request
        import os
        import traceback

        if os.environ.get("FLOWYML_DEBUG"):
            traceback.print_exc()
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        commands.err(
            f"unexpected error{where}: {type(exc).__name__}: {' '.join(commands.describe_error(exc).split())}"
            " (set FLOWYML_DEBUG=1 for the traceback)"
        )
        return EXIT_RUN_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
