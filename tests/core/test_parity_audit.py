"""FlowyML 2.x parity gaps found by running FlowyML 2.2.1's own examples against flowyml (issue 11's audit)."""

from __future__ import annotations

from flowyml import Pipeline, step


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
