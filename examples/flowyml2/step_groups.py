"""Execution groups, as a FlowyML 2.x user writes them: one container per group on a backend.

python examples/flowyml2/step_groups.py
"""

from flowyml.core import Pipeline, step
from flowyml.core.resources import GPUConfig, ResourceRequirements


@step(outputs=["raw_data"], execution_group="preprocessing")
def load_raw_data():
    return {"records": 1000, "format": "csv"}


@step(inputs=["raw_data"], outputs=["clean_data"], execution_group="preprocessing")
def clean_data(raw_data: dict):
    return {**raw_data, "status": "cleaned"}


@step(inputs=["clean_data"], outputs=["report"])
def generate_report(clean_data: dict):
    return f"Report: {clean_data['records']} records processed"


preprocessing = Pipeline("preprocessing_pipeline", enable_cache=False)
preprocessing.add_step(load_raw_data).add_step(clean_data).add_step(generate_report)


@step(outputs=["dataset"], execution_group="training", resources=ResourceRequirements(cpu="2", memory="4Gi"))
def prepare_dataset():
    return "prepared_dataset"


@step(
    inputs=["dataset"],
    outputs=["model"],
    execution_group="training",
    resources=ResourceRequirements(cpu="4", memory="8Gi", gpu=GPUConfig(gpu_type="nvidia-v100", count=2)),
)
def train_model(dataset: str):
    return f"model trained on {dataset}"


@step(
    inputs=["model"],
    outputs=["evaluation"],
    execution_group="training",
    resources={"cpu": "2", "memory": "2Gi", "gpu": {"gpu_type": "nvidia-a100", "count": 1}},
)
def evaluate_model(model: str):
    return {"accuracy": 0.95, "model": model}


training = Pipeline("training_pipeline", enable_cache=False)
training.add_step(prepare_dataset).add_step(train_model).add_step(evaluate_model)


@step(outputs=["a"], execution_group="same_name")
def step_a():
    return "a"


@step(inputs=["a"], outputs=["x"])
def step_x(a: str):
    return f"{a}_x"


@step(inputs=["x"], outputs=["b"], execution_group="same_name")
def step_b(x: str):
    return f"{x}_b"


# step_x runs between the two members of "same_name": the group is split in two
split = Pipeline("non_consecutive", enable_cache=False).add_step(step_a).add_step(step_x).add_step(step_b)

if __name__ == "__main__":
    result = preprocessing.run()
    print(result.outputs["report"], "| groups:", [g.group_name for g in preprocessing.step_groups])
    assert [s.name for s in preprocessing.step_groups[0].steps] == ["load_raw_data", "clean_data"]

    training.build()
    res = training.step_groups[0].aggregated_resources
    print(f"training group: cpu={res.cpu} memory={res.memory} gpu={res.gpu.count}x {res.gpu.gpu_type}")
    assert (res.cpu, res.memory, res.gpu.count, res.gpu.gpu_type) == ("4", "8Gi", 2, "nvidia-a100")
    assert training.run().outputs["evaluation"]["accuracy"] == 0.95

    split.build()
    print("split groups:", [(g.group_name, [s.name for s in g.steps]) for g in split.step_groups])
    assert [g.group_name for g in split.step_groups] == ["same_name_0", "same_name_1"]
    assert split.run()["b"] == "a_x_b"
