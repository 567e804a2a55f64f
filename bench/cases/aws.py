"""AWS polling cost (issue 5): ``describe_jobs`` calls per status round for many runs, counted at moto.

A placeholder until flowyml-aws exists: it reports "not measured" with the reason.
"""

from __future__ import annotations

import importlib.util

from bench.model import CaseResult, skipped
from bench.settings import Settings

TITLE = "AWS Batch: describe_jobs calls per polling round"


def available() -> str | None:
    if importlib.util.find_spec("flowyml_aws") is None:
        return "flowyml-aws is not installed (issue 5 in progress)"
    return "flowyml-aws is installed, but this case is not wired to it yet (see docs/performance.md)"


def run(settings: Settings) -> CaseResult:
    missing = available()
    if missing:
        return skipped("aws", TITLE, f"{missing}; would poll {settings.aws_runs} runs")
    raise NotImplementedError  # unreachable until wired
