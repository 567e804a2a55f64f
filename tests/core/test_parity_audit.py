"""FlowyML 2.x parity gaps found by running FlowyML 2.2.1's own examples against flowyml (issue 11's audit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowyml import Pipeline, step

ROOT = Path(__file__).resolve().parents[2]


# -- the step registry's names: FlowyML code imports and passes them; flowyml has no registry ------------
def test_step_registry_names_and_keywords_are_accepted():
    from flowyml import clear_step_registry
    from flowyml.core.step import clear_step_registry as from_core

    assert from_core is clear_step_registry and clear_step_registry() is None

    @step(outputs=["rows"], register=False)
    def load():
        return [1, 2, 3]

    @step(inputs=["rows"], pipeline="training")
    def count(rows):
        return len(rows)

    result = Pipeline("registry", enable_cache=False).add_step(load).add_step(count).run()
    assert result.success and result["count"] == 3


# -- check_cache: the latest completed run of this process, without run records --------------------------
def test_check_cache_finds_a_completed_run_of_this_process_without_run_records(tmp_path):
    @step(outputs=["values"])
    def ingest():
        return [1, 2, 3]

    @step(inputs=["values"], outputs=["doubled"])
    def double(values):
        return [v * 2 for v in values]

    pipe = Pipeline("pre-check", cache_dir=tmp_path / "cache").add_step(ingest).add_step(double)
    assert not pipe.record_runs and pipe.check_cache() is None
    first = pipe.run()
    found = pipe.check_cache()
    assert found is not None and found["run_id"] == first.run_id
    assert found["pipeline_name"] == "pre-check" and found["status"] == found["state"] == "completed"
    assert found["created_at"] == found["start_time"] == first.start_time.isoformat()
    assert found["steps"]["double"]["success"] and not found["steps"]["double"]["cached"]
    assert not list(pipe.runs_dir.glob("pre-check-*.json"))  # nothing written
    # any pipeline of that name asks the same question; the newest completed run answers
    second = Pipeline("pre-check", cache_dir=tmp_path / "cache").add_step(ingest).add_step(double).run()
    again = Pipeline("pre-check").check_cache()
    assert again["run_id"] == second.run_id and again["steps"]["ingest"]["cached"]
    assert Pipeline("pre-check-other").check_cache() is None


def test_check_cache_ignores_failed_runs_and_keeps_no_outputs():
    calls = {"n": 0}

    @step(outputs=["x"])
    def sometimes():
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("second run fails")
        return bytearray(10)

    pipe = Pipeline("pre-check-fail", enable_cache=False).add_step(sometimes)
    ok = pipe.run()
    assert not pipe.run().success
    found = pipe.check_cache()
    assert found["run_id"] == ok.run_id and "outputs" not in found
    assert "bytearray" not in repr(found)


# -- FlowyML's other import paths and helpers its examples use ----------------------------------------
def test_assets_import_from_flowymls_module_paths():
    import flowyml.assets as assets
    from flowyml.assets.base import Asset, AssetMetadata
    from flowyml.assets.dataset import Dataset
    from flowyml.assets.metrics import Metrics
    from flowyml.assets.model import Model
    from flowyml.core import assets as core_assets

    assert (assets.Dataset, assets.Model, assets.Metrics) == (Dataset, Model, Metrics)
    assert (Asset, AssetMetadata, Dataset) == (core_assets.Asset, core_assets.AssetMetadata, core_assets.Dataset)
    raw = Dataset.create(data={"x": [1, 2]}, name="raw")
    assert isinstance(Model.create(data={}, name="m", trained_on=raw), Asset)


def test_visualize_lists_each_step_in_run_order_with_its_wiring():
    @step(outputs=["data/train", "data/test"])
    def split():
        return [1], [2]

    @step(inputs=["data/train"], outputs=["model"])
    def train(rows):
        return sum(rows)

    @step(inputs=["model", "data/test"], outputs=["score"])
    def score(model, rows):
        return model - sum(rows)

    text = Pipeline("drawn").add_step(score).add_step(train).add_step(split).visualize()
    blocks = [b for b in text.split("\n\n") if b.strip()]
    assert blocks[0].splitlines()[0] == "Pipeline DAG:"
    names = [line.split(". ", 1)[1] for line in text.splitlines() if line[:1].isdigit()]
    assert names == ["split", "train", "score"]
    assert "   Inputs: ['model', 'data/test']" in text and "   Dependencies: split, train" in text
    assert "   Outputs: ['data/train', 'data/test']" in text


# -- run(orchestrator=, resources=, docker_config=) reach the job the backend runs ----------------------
def test_resources_and_docker_config_given_to_run_reach_the_backends_job(monkeypatch):
    import json
    import sys

    from flowyml import DockerConfig
    from flowyml.core.resources import ResourceRequirements
    from flowyml.stacks.local import LocalOrchestrator

    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import parity_pipelines

    assert "parity_pipelines" in sys.modules
    result = parity_pipelines.assets.run(
        orchestrator=LocalOrchestrator(),
        resources=ResourceRequirements(cpu="2", memory="1Gi"),
        docker_config=DockerConfig(image="registry.example/churn:7"),
    )
    sub = result.submission_result
    sub.wait_for_completion(timeout=90, poll_interval=0.2)
    spec = json.loads((Path(sub.metadata["run_dir"]) / "job.json").read_text())
    assert spec["image"] == "registry.example/churn:7"
    assert {(u["resources"]["cpu"], u["resources"]["memory"]) for u in spec["units"]} == {("2", "1Gi")}
    assert result.to_dict()["metadata"]["resources"]["cpu"] == "2" and sub.get_output("model/trained") == 3


# -- the FlowyML-style examples (examples/flowyml2) also run with debug=True ----------------------------
@pytest.mark.parametrize("example", ["caching", "conditions", "step_groups", "assets_and_hooks"])
def test_flowyml_style_example_pipelines_run_with_debug(example, caplog):
    import logging
    import runpy

    from flowyml.core.hooks import get_global_hooks
    from flowyml.core.observability import set_metrics_collector
    from flowyml.core.retry_policy import OrchestratorRetryPolicy

    module = runpy.run_path(str(ROOT / "examples" / "flowyml2" / f"{example}.py"), run_name="flowyml2_example")
    pipelines = [v for v in module.values() if isinstance(v, Pipeline)]
    assert pipelines
    try:
        with caplog.at_level(logging.DEBUG, logger="flowyml"):
            for pipeline in pipelines:
                result = pipeline.run(debug=True, retry_policy=OrchestratorRetryPolicy(max_attempts=2, initial_delay=0))
                assert result.success, result.error
                assert any(m.startswith(f"Pipeline: {pipeline.name}") for m in caplog.messages)
                ran = [name for name, r in result.step_results.items() if not r.skipped]
                assert ran and all(any(f"step {name} starting" in m for m in caplog.messages) for name in ran)
    finally:
        get_global_hooks().clear()
        set_metrics_collector(None)


# -- a step's value by the step's name on a backend too ---------------------------------------------
def test_step_values_are_reachable_by_step_name_on_a_backend(monkeypatch):
    from flowyml.stacks.local import LocalOrchestrator

    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import parity_pipelines

    local = parity_pipelines.by_name.run()
    assert local["count_rows"] == 3 and local["load_rows"] == [4, 5, 6] and "log_rows" not in local

    sub = parity_pipelines.by_name.run(orchestrator=LocalOrchestrator()).submission_result
    sub.wait_for_completion(timeout=90, poll_interval=0.2)
    outputs = sub.outputs()
    assert outputs == {"data/raw": [4, 5, 6], "load_rows": [4, 5, 6], "count_rows": 3}
    assert sub.get_output("count_rows") == 3 and sub.get_output("load_rows") == [4, 5, 6]
    with pytest.raises(KeyError, match="no output 'log_rows'"):
        sub.get_output("log_rows")


# -- retries as FlowyML 2.2.1 counts them (measured there: 2 for a success on the third try, 3 for 3 failures) -
def test_retries_count_every_failed_attempt():
    from flowyml import LocalExecutor

    attempts = {"flaky": 0, "broken": 0}

    @step(outputs=["x"], retry=2)
    def flaky():
        attempts["flaky"] += 1
        if attempts["flaky"] < 3:
            raise ConnectionError("not yet")
        return 1

    @step(retry=2)
    def broken():
        attempts["broken"] += 1
        raise RuntimeError("never")

    result = Pipeline("retries", enable_cache=False).add_step(flaky).add_step(broken)
    result = result.run(executor=LocalExecutor(retry_base_delay=0))
    assert result.step_results["flaky"].success and result.step_results["flaky"].retries == 2
    assert not result.step_results["broken"].success and result.step_results["broken"].retries == 3
    assert attempts == {"flaky": 3, "broken": 3} and result.to_dict()["steps"]["broken"]["retries"] == 3


# -- a dataset's sample count written as FlowyML's examples write it ------------------------------------
def test_a_dataset_reads_its_sample_count_from_flowymls_samples_property():
    from flowyml import Dataset

    described = Dataset.create(data=None, name="churn_raw", properties={"rows": 10, "samples": 1000})
    assert described.num_samples == 1000 and described.size == 1000
    counted = Dataset.create(data={"features": {"x": [1, 2, 3]}, "target": [0, 1, 0]}, name="counted")
    assert counted.num_samples == 3 and counted.properties["num_samples"] == 3


# -- FlowyML's params-collected and metrics-collected hooks --------------------------------------------
def test_params_and_metrics_collected_hooks_see_the_runs_parameters_and_each_metrics_asset():
    from flowyml import Metrics, Model, context
    from flowyml.core.hooks import get_global_hooks, on_metrics_collected, on_params_collected

    seen: list[tuple[str, object]] = []

    @on_params_collected
    def params(values):
        seen.append(("params", values))

    @on_metrics_collected
    def metrics(step_name, values):
        seen.append((step_name, values))

    @step(outputs=["model", "train_metrics"])
    def train(lr: float):
        return Model.create(data={"w": lr}, name="m"), Metrics.create(loss=0.25, name="train")

    @step(inputs=["model"], outputs=["scores"])
    def evaluate(model):
        return {"holdout": Metrics.create(accuracy=0.875), "note": "not a metrics asset"}

    @step(inputs=["model"])
    def broken(model):
        raise RuntimeError("no metrics from a failed step")

    try:
        pipe = Pipeline("collected", context=context(lr=0.5), enable_cache=False)
        pipe.add_step(train).add_step(evaluate).add_step(broken).run(context={"seed": 7})
        assert get_global_hooks().has_step_hooks()
    finally:
        get_global_hooks().clear()
    assert seen == [("params", {"lr": 0.5, "seed": 7}), ("train", {"loss": 0.25}), ("evaluate", {"accuracy": 0.875})]
    assert not get_global_hooks().on_metrics_collected and not get_global_hooks().on_params_collected
