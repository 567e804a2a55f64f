"""Small pipelines the conformance kit submits (importable by every step-runner)."""

from __future__ import annotations

import time

from flowyml.core.context import context
from flowyml.core.pipeline import Pipeline
from flowyml.core.step import step


@step(outputs=["numbers"], execution_group="prep")
def make_numbers(count: int = 5) -> list[int]:
    print(f"making {count} numbers")
    return list(range(count))


@step(inputs=["numbers"], outputs=["data/scaled"], execution_group="prep")
def scale(numbers: list[int], factor: int = 2) -> list[int]:
    return [n * factor for n in numbers]


@step(inputs=["data/scaled"], outputs=["total"])  # an asset-path name crosses the units
def total(scaled: list[int]) -> int:
    print(f"summing {len(scaled)} values")
    return sum(scaled)


#: Two units: the "prep" group (make_numbers, scale) and "total". total == factor * count*(count-1)/2
two_units = Pipeline("conformance-two-units", context=context(count=5, factor=3), enable_cache=False)
two_units.add_step(make_numbers).add_step(scale).add_step(total)


@step(outputs=["never"])
def explode() -> None:
    raise ValueError("boom from the flowyml conformance kit")


failing = Pipeline("conformance-failing", enable_cache=False).add_step(explode)


@step(inputs=["never"], outputs=["after"])
def after_explode(never: None) -> None:
    print("this never runs: its dependency failed")


#: Two units: "explode" fails, so "after_explode" never starts (it reads CANCELLED: there is no SKIPPED).
failing_chain = Pipeline("conformance-failing-chain", enable_cache=False).add_step(explode).add_step(after_explode)


@step(outputs=["slept"])
def sleep_long(seconds: float = 60.0) -> float:
    print("sleeping", flush=True)
    time.sleep(seconds)
    return seconds


slow = Pipeline("conformance-slow", enable_cache=False).add_step(sleep_long)
