"""Pipelines the run-level retry tests submit to the local backend (imported by the step-runner).

Every step appends its name to ``$FLOWYML_HOME/executions.log``. ``train`` kills its own process
(SIGKILL: no step failure is recorded, as when a job is preempted or runs out of memory) once for
each ``$FLOWYML_HOME/kill-train-*`` file, removing one each time; ``flaky`` raises while
``$FLOWYML_HOME/break-flaky`` exists.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from flowyml import Pipeline, step


def _home() -> Path:
    return Path(os.environ["FLOWYML_HOME"])


def executed(name: str) -> None:
    with open(_home() / "executions.log", "a", encoding="utf-8") as f:
        f.write(name + "\n")


@step(outputs=["rows"])
def load():
    executed("load")
    return [1, 2, 3]


@step(inputs=["rows"], outputs=["model"])
def train(rows):
    executed("train")
    kills = sorted(_home().glob("kill-train-*"))
    if kills:
        kills[0].unlink()
        os.kill(os.getpid(), signal.SIGKILL)
    return sum(rows)


@step(inputs=["rows"], outputs=["checked"])
def flaky(rows):
    executed("flaky")
    if (_home() / "break-flaky").exists():
        raise RuntimeError("flaky is broken")
    return len(rows)


killed = Pipeline("retry-killed", enable_cache=False).add_step(load).add_step(train)
failing = Pipeline("retry-failing", enable_cache=False).add_step(load).add_step(flaky)
