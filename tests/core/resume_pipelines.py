"""Pipelines the resume tests run (imported by the step-runner subprocesses and in-process).

Every step appends its name to ``$FLOWYML_HOME/executions.log`` when it runs, so a test can
tell which steps a resumed run executed; ``featurize`` fails while ``$FLOWYML_HOME/break-featurize``
exists, and ``train`` waits while ``$FLOWYML_HOME/hold-train`` exists (to cancel a run mid-way).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from flowyml import Pipeline, context, step


def _home() -> Path:
    return Path(os.environ["FLOWYML_HOME"])


def executed(name: str) -> None:
    with open(_home() / "executions.log", "a", encoding="utf-8") as f:
        f.write(name + "\n")


@step(outputs=["raw"])
def load(size: int = 3):
    executed("load")
    return list(range(1, size + 1))


@step(inputs=["raw"], outputs=["features"])
def featurize(raw):
    executed("featurize")
    if (_home() / "break-featurize").exists():
        raise RuntimeError("featurize is broken")
    return [x * 10 for x in raw]


@step(inputs=["features"], outputs=["model"])
def train(features):
    executed("train")
    while (_home() / "hold-train").exists():
        time.sleep(0.05)
    return sum(features)


@step(inputs=["raw"], outputs=["report"])
def report(raw):
    executed("report")
    return f"{len(raw)} rows"


pipeline = Pipeline("resume-demo", context=context(size=3), enable_cache=False)
pipeline.add_step(load).add_step(featurize).add_step(train).add_step(report)
