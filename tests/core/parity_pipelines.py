"""Pipelines the parity tests submit to the local backend (imported again by the step-runner)."""

from __future__ import annotations

from flowyml import Pipeline, context, step


@step(outputs=["raw"])
def load(count: int = 3):
    return list(range(count))


@step(inputs=["raw"], outputs=["total"])
def train(data):
    return sum(data)


plain = Pipeline("parity-plain", context=context(count=3), enable_cache=False)
plain.add_step(load).add_step(train)


@step(outputs=["data/raw"])
def load_asset(count: int = 3):
    return list(range(count))


@step(inputs=["data/raw"], outputs=["model/trained"])
def train_asset(data):
    return sum(data)


assets = Pipeline("parity-assets", context=context(count=3), enable_cache=False)
assets.add_step(load_asset).add_step(train_asset)
