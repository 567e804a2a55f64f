"""Typed assets, lifecycle hooks, a metrics collector and a run-level retry policy, FlowyML 2.x style.

python examples/flowyml2/assets_and_hooks.py
"""

from flowyml import Dataset, Metrics, Model, Pipeline, step
from flowyml.core.hooks import on_pipeline_end, on_pipeline_start, on_step_end
from flowyml.core.observability import ConsoleMetricsCollector, set_metrics_collector
from flowyml.core.retry_policy import OrchestratorRetryPolicy

set_metrics_collector(ConsoleMetricsCollector())
attempts = {"process_data": 0}
events = []


@on_pipeline_start
def setup_resources(pipeline):
    events.append(f"start {pipeline.name}")


@on_step_end
def after_step(step, result):
    events.append(f"{step.name}: {result.status}")


@on_pipeline_end
def cleanup_resources(pipeline, result):
    events.append(f"end {'success' if result.success else 'failed'}")


@step(outputs=["data"])
def ingest_data():
    return Dataset.create(data={"features": {"x": [1, 2, 3, 4]}, "target": [0, 1, 0, 1]}, name="raw", source="demo")


@step(inputs=["data"], outputs=["processed"])
def process_data(data):
    attempts["process_data"] += 1
    if attempts["process_data"] == 1:
        raise RuntimeError("a transient processing error")  # the retry policy re-runs this step
    doubled = {"features": {"x": [v * 2 for v in data.data["features"]["x"]]}, "target": data.data["target"]}
    return Dataset.create(data=doubled, name="processed", parent=data, transform="x2")


@step(inputs=["processed"], outputs=["model"])
def train_model(processed):
    weights = sum(processed.data["features"]["x"]) / processed.num_samples
    return Model.create(data={"w": weights}, name="mean-model", trained_on=processed, framework="custom")


@step(inputs=["model", "processed"], outputs=["metrics"])
def evaluate(model, processed):
    return Metrics.create(accuracy=0.75, name="eval", parents=[model], metadata={"split": "train"})


pipeline = Pipeline("advanced_demo", enable_cache=False, record_runs=True)
pipeline.add_step(ingest_data).add_step(process_data).add_step(train_model).add_step(evaluate)

if __name__ == "__main__":
    policy = OrchestratorRetryPolicy(max_attempts=3, initial_delay=0.1, max_delay=1.0)
    result = pipeline.run(retry_policy=policy)
    print(result.summary())
    print("\n".join(events))
    model = result["model"]
    lineage = model.get_lineage()
    print("model trained on", [p["asset"]["name"] for p in lineage["parents"]])
    assert result.success and attempts["process_data"] == 2 and result.metadata["attempts"] == 2
    assert model.get_training_datasets()[0].parents[0].name == "raw"
    assert result["metrics"].get_metric("accuracy") == 0.75 and result["metrics"].tags == {"split": "train"}
    assert events[0] == "start advanced_demo" and events[-1] == "end success"
    assert "process_data: failed" in events and events.count("process_data: ok") == 1
    assert pipeline.check_cache()["run_id"] == result.run_id
