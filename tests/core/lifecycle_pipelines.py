"""Pipelines the local-backend lifecycle tests submit (imported by the step-runner subprocesses)."""

from __future__ import annotations

import time

from flowyml import Pipeline, context, step


@step(outputs=["numbers"])
def produce(count: int = 3):
    print(f"producing {count}")
    return list(range(count))


@step(inputs=["numbers"], outputs=["total"])
def consume(numbers, pause: float = 0.0):
    for n in numbers:
        print(f"tick {n}", flush=True)
        time.sleep(pause)
    return sum(numbers)


quick = Pipeline("lifecycle-quick", context=context(count=3, pause=0.0), enable_cache=False)
quick.add_step(produce).add_step(consume)

slow = Pipeline("lifecycle-slow", context=context(count=200, pause=0.25), enable_cache=False)
slow.add_step(produce).add_step(consume)
