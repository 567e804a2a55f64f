"""Pipelines the vertex_ai tests submit (imported by the step-runner subprocesses the fake starts)."""

from __future__ import annotations

from flowyml import Pipeline, ResourceConfig, context, step


@step(outputs=["raw"], resources=ResourceConfig(cpu="2", memory="4Gi"))
def load(size: int = 4) -> list[int]:
    print(f"loading {size} rows", flush=True)
    return list(range(1, size + 1))


@step(inputs=["raw"], outputs=["features"], resources=ResourceConfig(cpu="4", memory="16Gi"))
def featurize(raw: list[int]) -> list[int]:
    print("featurizing", flush=True)
    return [x * x for x in raw]


@step(
    inputs=["features"],
    outputs=["model"],
    resources=ResourceConfig(cpu="8", memory="30Gi", gpu="NVIDIA_TESLA_T4", gpu_count=2),
)
def train(features: list[int]) -> dict[str, float]:
    print("training", flush=True)
    return {"weight": sum(features) / len(features)}


@step(inputs=["raw", "model"], outputs=["report"])
def report(raw: list[int], model: dict[str, float]) -> str:
    print("reporting", flush=True)
    return f"rows={len(raw)} weight={model['weight']}"


#: four units: load -> featurize -> train -> report, and report also reads load's output directly
dag4 = Pipeline("gcp-dag4", context=context(size=4), enable_cache=False)
dag4.add_step(load).add_step(featurize).add_step(train).add_step(report)


@step(outputs=["answer"])
def answer() -> int:
    print("thinking", flush=True)
    return 42


single = Pipeline("gcp-single", enable_cache=False).add_step(answer)


@step(outputs=["me"])
def whoami() -> str:
    import os

    return os.environ["FLOWYML_RUN_ID"]


whoami_pipeline = Pipeline("gcp-whoami", enable_cache=False).add_step(whoami)


@step(outputs=["x"], resources=ResourceConfig(cpu="8", memory="30Gi", gpu="t4", gpu_count=2))
def gpu_step() -> int:
    return 1


gpu = Pipeline("gcp-gpu", enable_cache=False).add_step(gpu_step)


@step(outputs=["rows"], resources=ResourceConfig(disk="250Gi"))
def big_disk() -> int:
    return 1


#: one unit asking for a 250 GiB boot disk (a CustomJob: bootDiskSizeGb follows it)
disk = Pipeline("gcp-disk", enable_cache=False).add_step(big_disk)


@step(inputs=["rows"], outputs=["total"])
def sum_rows(rows: int) -> int:
    return rows + 1


#: the same disk in a two-unit pipeline: a pipeline task cannot get it
disk_dag = Pipeline("gcp-disk-dag", enable_cache=False)
disk_dag.add_step(big_disk).add_step(sum_rows)


@step(outputs=["raw_rows"])
def load_data() -> list[int]:
    print("loading data", flush=True)
    return [1, 2, 3]


@step(inputs=["raw_rows"], outputs=["row_total"])
def train_model(raw_rows: list[int]) -> int:
    print("training the model", flush=True)
    return sum(raw_rows)


#: units with `_` in their names: KFP's DAG key is `load-data`, the display name `load_data`
underscored = Pipeline("gcp-underscored", enable_cache=False).add_step(load_data).add_step(train_model)
