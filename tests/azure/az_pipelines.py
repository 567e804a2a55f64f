"""Pipelines the Azure tests submit (importable by the step-runner the fake executes)."""

from __future__ import annotations

import time

from flowyml.core.context import context
from flowyml.core.pipeline import Pipeline
from flowyml.core.resources import ResourceConfig
from flowyml.core.step import step


@step(outputs=["data"])
def prepare(size: int = 4) -> list[int]:
    print(f"preparing {size} rows", flush=True)
    return list(range(size))


@step(inputs=["data"], outputs=["model"], resources=ResourceConfig(gpu_count=1, machine_type="Standard_NC6s_v3"))
def train(data: list[int], factor: int = 10) -> dict:
    print(f"training on {len(data)} rows", flush=True)
    return {"weights": [x * factor for x in data]}


@step(inputs=["data", "model"], outputs=["score"])
def evaluate(data: list[int], model: dict) -> int:
    print("evaluating", flush=True)
    return sum(model["weights"]) + len(data)


#: Three units: prepare -> train -> evaluate, and prepare -> evaluate.
three_units = Pipeline("azure-three-units", context=context(size=4, factor=10), enable_cache=False)
three_units.add_step(prepare).add_step(train).add_step(evaluate)


@step(outputs=["ticks"])
def ticker(ticks: int = 5, pause: float = 0.3) -> int:
    for i in range(ticks):
        print(f"tick {i}", flush=True)
        time.sleep(pause)
    return ticks


#: One unit that prints while it runs (logs followed live).
ticking = Pipeline("azure-ticking", context=context(ticks=5, pause=0.3), enable_cache=False).add_step(ticker)
