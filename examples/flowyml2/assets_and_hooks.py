"""Typed assets, lifecycle hooks, a metrics collector and a run-level retry policy, FlowyML 2.x style.

python examples/flowyml2/assets_and_hooks.py
"""

from flowyml import Dataset, Metrics, Model, Pipeline, step
from flowyml.core.hooks import on_pipeline_end, on_pipeline_start, on_step_end
from flowyml.core.observability import ConsoleMetricsCollector, set_metrics_collector
from flowyml.core.retry_policy import OrchestratorRetryPolicy

set_metrics_collector(ConsoleMetricsCollector())
timeline: list[str] = []
warehouse_calls = {"count": 0}


@on_pipeline_start
def open_connections(pipeline):
    timeline.append(f"open {pipeline.name}")


@on_step_end
def note_step(step, result):
    timeline.append(f"{step.name}={result.status}")


@on_pipeline_end
def close_connections(pipeline, result):
    timeline.append("close " + ("ok" if result.success else "failed"))


@step(outputs=["customers"])
def extract_customers():
    rows = {"features": {"tenure": [1, 14, 30, 2], "tickets": [5, 0, 1, 7]}, "target": [1, 0, 0, 1]}
    return Dataset.create(data=rows, name="customers", source="warehouse://crm")


@step(inputs=["customers"], outputs=["customers/scaled"])
def scale(customers):
    warehouse_calls["count"] += 1
    if warehouse_calls["count"] == 1:
        raise ConnectionError("warehouse connection reset")  # transient: the retry policy runs the step again
    tenure = customers.data["features"]["tenure"]
    scaled = {"tenure": [t / max(tenure) for t in tenure], "tickets": customers.data["features"]["tickets"]}
    rows = {"features": scaled, "target": customers.data["target"]}
    return Dataset.create(data=rows, name="scaled", parent=customers)


@step(inputs=["customers/scaled"], outputs=["churn_model"])
def fit_churn_model(scaled):
    cutoff = sum(scaled.data["features"]["tickets"]) / scaled.num_samples
    return Model.create(data={"ticket_cutoff": cutoff}, name="churn-rule", trained_on=scaled, framework="custom")


@step(inputs=["churn_model", "customers/scaled"], outputs=["churn_metrics"])
def score(model, scaled):
    cutoff = model.data["ticket_cutoff"]
    predicted = [int(t > cutoff) for t in scaled.data["features"]["tickets"]]
    hits = sum(p == y for p, y in zip(predicted, scaled.data["target"], strict=True))
    return Metrics.create(accuracy=hits / len(predicted), name="holdout", parents=[model], metadata={"split": "all"})


pipeline = Pipeline("churn_rules", enable_cache=False)
pipeline.add_step(extract_customers).add_step(scale).add_step(fit_churn_model).add_step(score)

if __name__ == "__main__":
    policy = OrchestratorRetryPolicy(max_attempts=3, initial_delay=0.1, max_delay=1.0)
    result = pipeline.run(retry_policy=policy)
    print(result.summary())
    print(" | ".join(timeline))
    model = result["churn_model"]
    print("model trained on", [p["asset"]["name"] for p in model.get_lineage()["parents"]])
    assert result.success and warehouse_calls["count"] == 2 and result.metadata["attempts"] == 2
    assert model.get_training_datasets()[0].parents[0].properties["source"] == "warehouse://crm"
    assert result["churn_metrics"].get_metric("accuracy") == 1.0 and result["churn_metrics"].tags == {"split": "all"}
    assert timeline[0] == "open churn_rules" and timeline[-1] == "close ok"
    assert "scale=failed" in timeline and timeline.count("scale=ok") == 1
    assert pipeline.check_cache()["run_id"] == result.run_id
