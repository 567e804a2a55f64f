"""Pipelines the local-backend lifecycle tests submit (imported by the step-runner subprocesses)."""

from __future__ import annotations

import time
from pathlib import Path

from flowyml import Pipeline, context, step


def wait_for_gate(gate: str, bound: float = 600.0) -> None:
    """Say so on stdout, then wait until the file ``gate`` exists: the test creates it when the run may go on.

    ``bound`` seconds at most, so a broken test cannot leave a run waiting for ever: past it the step fails.
    """
    print("waiting for the gate", flush=True)
    deadline = time.monotonic() + bound
    while not Path(gate).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gate {gate} did not open within {bound:.0f}s")
        time.sleep(0.05)


@step(outputs=["numbers"])
def produce(count: int = 3):
    print(f"producing {count}")
    return list(range(count))


@step(inputs=["numbers"], outputs=["total"])
def consume(numbers, pause: float = 0.0, gate: str = ""):
    """Tick through ``numbers``; given a ``gate`` file (``-p gate=PATH``), first wait until it exists."""
    if gate:
        wait_for_gate(gate)
    for n in numbers:
        print(f"tick {n}", flush=True)
        time.sleep(pause)
    return sum(numbers)


quick = Pipeline("lifecycle-quick", context=context(count=3, pause=0.0), enable_cache=False)
quick.add_step(produce).add_step(consume)

slow = Pipeline("lifecycle-slow", context=context(count=200, pause=0.25), enable_cache=False)
slow.add_step(produce).add_step(consume)
