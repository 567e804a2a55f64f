"""Pipelines the run-history CLI tests submit (imported by the local backend's step-runners)."""

from __future__ import annotations

import time

from flowyml import Pipeline, step
from tests.core.lifecycle_pipelines import wait_for_gate


@step(outputs=["raw"])
def zeta_load():
    time.sleep(0.2)
    return [3, 1, 2]


@step(inputs=["raw"], outputs=["model"])
def alpha_train(raw):
    time.sleep(0.2)
    return sorted(raw)


@step(inputs=["model"], outputs=["report"])
def mid_report(model):
    return f"model {model}"


@step(inputs=["raw"], outputs=["model"])
def alpha_broken(raw):
    raise ValueError("the training data is empty")


#: units in DAG order zeta_load, alpha_train, mid_report: not the alphabetical order
ok = Pipeline("hist-ok", enable_cache=False).add_step(zeta_load).add_step(alpha_train).add_step(mid_report)
broken = Pipeline("hist-broken", enable_cache=False).add_step(zeta_load).add_step(alpha_broken)


@step(outputs=["slow"])
def a_rather_long_step_name_that_a_live_status_line_must_cut(seconds: float = 2.0, gate: str = ""):
    """Sleep ``seconds``; given a ``gate`` file (``-p gate=PATH``), wait until it exists instead."""
    if gate:
        wait_for_gate(gate)
    else:
        time.sleep(seconds)
    return seconds


#: a live status line naming this unit is longer than 60 columns
slow = Pipeline("hist-slow", enable_cache=False).add_step(a_rather_long_step_name_that_a_live_status_line_must_cut)
