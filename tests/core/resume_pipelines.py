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


# -- a unit of two steps: resuming it runs both ------------------------------------------------
@step(inputs=["raw"], outputs=["scaled"], execution_group="fit")
def scale(raw):
    executed("scale")
    return [x / 10 for x in raw]


@step(inputs=["scaled"], outputs=["weights"], execution_group="fit")
def fit(scaled):
    executed("fit")
    if (_home() / "break-fit").exists():
        raise RuntimeError("fit is broken")
    return sum(scaled)


@step(inputs=["weights"], outputs=["score"])
def score(weights):
    executed("score")
    return round(weights * 2, 6)


grouped = Pipeline("resume-grouped", context=context(size=3), enable_cache=False)
grouped.add_step(load).add_step(scale).add_step(fit).add_step(score)


# -- a step skipped by its condition stays skipped when reused -----------------------------------
@step(inputs=["raw"], outputs=["extra"], condition=lambda raw: len(raw) > 100)
def extra(raw):
    executed("extra")
    return len(raw)


@step(inputs=["extra"], outputs=["extra_report"])
def use_extra(extra):
    executed("use_extra")
    return extra


conditional = Pipeline("resume-conditional", context=context(size=3), enable_cache=False)
conditional.add_step(load).add_step(extra).add_step(use_extra).add_step(report)


# -- an output that cannot be saved: the in-process run goes on, a resume runs its step again --
@step(outputs=["lock"])
def open_lock():
    import threading

    executed("open_lock")
    return threading.Lock()


@step(inputs=["lock"], outputs=["locked"])
def use_lock(lock):
    executed("use_lock")
    return lock.locked()


unkept = Pipeline("resume-unkept", enable_cache=False).add_step(open_lock).add_step(use_lock)


#: ``raw`` comes in as a pipeline input (``inputs={"raw": ...}``): a resumed run reads the first run's
from_input = Pipeline("resume-input", enable_cache=False).add_step(featurize).add_step(train)
