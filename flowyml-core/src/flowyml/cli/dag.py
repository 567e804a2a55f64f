"""``flowyml dag TARGET [--format text|mermaid|dot]``: print a pipeline's DAG without running it."""

from __future__ import annotations

import argparse
from typing import Any

FORMATS = ("text", "mermaid", "dot")  # flowyml.core.visualize.FORMATS, kept here so --help imports nothing


def add_parser(sub: Any) -> None:
    """Register the ``dag`` subcommand on the CLI's subparsers."""
    dag = sub.add_parser("dag", help="print a pipeline's DAG (text, Mermaid or Graphviz DOT) without running it")
    dag.add_argument("target", help="path/to/file.py[:attr] or package.module[:attr], as for flowyml run")
    dag.add_argument(
        "--format",
        "-f",
        choices=FORMATS,
        default="text",
        help="text (default): one line per step; mermaid: paste into Markdown; dot: pipe into `dot -Tsvg`",
    )


def cmd_dag(args: argparse.Namespace) -> int:
    from flowyml.cli.commands import load_target, out
    from flowyml.core.visualize import render

    pipeline, _ = load_target(args.target)
    out(render(pipeline, args.format).rstrip("\n"))
    return 0
