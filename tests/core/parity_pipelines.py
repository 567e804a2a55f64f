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


# -- typed assets through the artifact store ---------------------------------------------------------
@step(outputs=["train_set"])
def make_dataset():
    from flowyml import Dataset

    return Dataset.create(data={"features": {"x": [1, 2, 3]}, "target": [0, 1, 0]}, name="train", source="unit")


@step(inputs=["train_set"], outputs=["model"])
def fit(dataset):
    from flowyml import Model

    return Model.create(data={"w": sum(dataset.data["features"]["x"])}, name="clf", trained_on=dataset, lr=0.1)


@step(inputs=["model"], outputs=["metrics"])
def score(model):
    from flowyml import Metrics

    return Metrics.create(accuracy=0.9, name="eval", parents=[model], metadata={"split": "val", "n": 3})


typed = Pipeline("parity-typed", enable_cache=False).add_step(make_dataset).add_step(fit).add_step(score)


# -- hooks in the step-runner: each event appended to $PARITY_HOOK_LOG ----------------------------------
def _log_event(*parts: object) -> None:
    import os

    path = os.environ.get("PARITY_HOOK_LOG")
    if path:
        with open(path, "a") as fh:
            fh.write(" ".join(str(p) for p in parts) + "\n")


def install_hooks() -> None:
    from flowyml.core.hooks import on_step_end, on_step_start

    on_step_start(lambda step, inputs: _log_event("start", step.name, sorted(inputs)))
    on_step_end(lambda step, result: _log_event("end", step.name, result.status))


if __name__ != "__main__":
    import os

    if os.environ.get("PARITY_HOOK_LOG") and os.environ.get("FLOWYML_UNIT"):  # inside the step-runner only
        install_hooks()


# -- a step that fails on its first attempt in a run ($PARITY_FLAKY_DIR holds the marker) --------------
@step(outputs=["flaky"])
def flaky_once():
    import os
    from pathlib import Path

    marker = Path(os.environ["PARITY_FLAKY_DIR"]) / "attempted"
    if not marker.exists():
        marker.write_text("1")
        raise ConnectionError("the first attempt fails")
    return "ok"


flaky = Pipeline("parity-flaky", enable_cache=False).add_step(flaky_once)


# -- step values by the step's name on a backend: no outputs, one output, none returned ------------------
@step(outputs=["data/raw"])
def load_rows():
    return [4, 5, 6]


@step(inputs=["data/raw"])
def count_rows(rows):
    return len(rows)  # no declared output: reachable as "count_rows" only


@step(inputs=["data/raw"])
def log_rows(rows):
    return None  # nothing to keep


by_name = Pipeline("parity-by-name", enable_cache=False).add_step(load_rows).add_step(count_rows).add_step(log_rows)
