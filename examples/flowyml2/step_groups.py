"""Execution groups written the FlowyML 2.x way: ``@step(execution_group=...)``, one container per group.

``pipeline.step_groups`` (after ``build()``) lists the groups with their ``aggregated_resources``:
the largest CPU and memory of the members, and the most GPUs of the best type.

    python examples/flowyml2/step_groups.py
"""

from flowyml.core import Pipeline, step
from flowyml.core.resources import GPUConfig, ResourceRequirements


# -- a group followed by a step of its own -------------------------------------------------------
@step(outputs=["images/raw"], execution_group="etl")
def download_images():
    return [f"img_{i:03d}.png" for i in range(6)]


@step(inputs=["images/raw"], outputs=["images/small"], execution_group="etl")
def resize(images: list):
    return [name.replace(".png", "_64px.png") for name in images]


@step(inputs=["images/small"], outputs=["index"])
def build_index(images: list):
    return {name: i for i, name in enumerate(images)}


ingest = Pipeline("image_ingest", enable_cache=False)
ingest.add_step(download_images).add_step(resize).add_step(build_index)


# -- resources add up per group: written as ResourceRequirements or as a dict -------------------------
@step(outputs=["features"], execution_group="gpu", resources=ResourceRequirements(cpu="2", memory="6Gi"))
def featurize():
    return [[0.1, 0.4], [0.3, 0.2], [0.9, 0.7]]


@step(
    inputs=["features"],
    outputs=["classifier"],
    execution_group="gpu",
    resources=ResourceRequirements(cpu="8", memory="16Gi", gpu=GPUConfig(gpu_type="nvidia-tesla-t4", count=1)),
)
def fit(features: list):
    return {"threshold": sum(row[0] for row in features) / len(features)}


@step(
    inputs=["classifier", "features"],
    outputs=["latency_ms"],
    execution_group="gpu",
    resources={"cpu": "4", "memory": "4Gi", "gpu": {"gpu_type": "nvidia-a100", "count": 2}},
)
def benchmark(classifier: dict, features: list):
    return 1.5 * len(features)


training = Pipeline("image_training", enable_cache=False)
training.add_step(featurize).add_step(fit).add_step(benchmark)


# -- a step outside the group runs between two of its members: the group is split in two ------------------
@step(outputs=["manifest"], execution_group="io")
def read_manifest():
    return ["a.png", "b.png", "b.png"]


@step(inputs=["manifest"], outputs=["unique"])
def deduplicate(manifest: list):
    return sorted(set(manifest))


@step(inputs=["unique"], outputs=["written"], execution_group="io")
def write_manifest(unique: list):
    return len(unique)


interleaved = Pipeline("manifest_io", enable_cache=False)
interleaved.add_step(read_manifest).add_step(deduplicate).add_step(write_manifest)

if __name__ == "__main__":
    result = ingest.run()
    [etl] = ingest.step_groups
    print(f"{etl.group_name}: {[s.name for s in etl.steps]}; index of {len(result['index'])} images")
    assert [s.name for s in etl.steps] == ["download_images", "resize"]

    training.build()
    [gpu] = training.step_groups
    res = gpu.aggregated_resources
    print(f"{gpu.group_name}: cpu={res.cpu} memory={res.memory} gpu={res.gpu.count}x {res.gpu.gpu_type}")
    assert (res.cpu, res.memory, res.gpu.count, res.gpu.gpu_type) == ("8", "16Gi", 2, "nvidia-a100")
    assert training.run()["latency_ms"] == 4.5

    interleaved.build()
    print("split:", [(g.group_name, [s.name for s in g.steps]) for g in interleaved.step_groups])
    assert [g.group_name for g in interleaved.step_groups] == ["io_0", "io_1"]
    assert interleaved.run()["written"] == 2
