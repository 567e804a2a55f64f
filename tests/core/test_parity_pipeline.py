"""FlowyML 2.x parity of pipelines and steps: input mapping, outputs by step name, run() keywords, results."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta

import pytest

from flowyml import Pipeline, context, step
from flowyml.artifacts.store import ArtifactStore
from flowyml.core.context import Context


# -- 1. inputs map to parameters by name, then by position, for every step ----------------------------
def test_an_asset_path_input_lands_on_the_parameter_at_its_position():
    @step(outputs=["data/raw"])
    def load():
        return [3, 1, 2]

    @step(inputs=["data/raw"], outputs=["data/processed"])
    def preprocess(data):
        return sorted(data)

    @step(inputs=["data/raw", "data/processed"])
    def compare(raw, processed):
        return raw != processed

    result = Pipeline("mapping", enable_cache=False).add_step(load).add_step(preprocess).add_step(compare).run()
    assert result.success, result.error
    assert result["data/processed"] == [1, 2, 3] and result["compare"] is True


def test_a_name_match_wins_over_position_and_other_parameters_fill_from_outputs_by_name():
    @step(outputs=["features", "labels"])
    def load():
        return [1, 2], [0, 1]

    @step(inputs=["labels", "features"])  # declared out of order: names decide, not positions
    def train(features, labels, lr: float = 0.1):
        return (features, labels, lr)

    @step(inputs=["features"])
    def summarize(rows, labels):  # 'labels' is not declared but is an available output
        return {"rows": rows, "labels": labels}

    pipe = Pipeline("names", context=context(lr=0.5), enable_cache=False)
    result = pipe.add_step(load).add_step(train).add_step(summarize).run()
    assert result["train"] == ([1, 2], [0, 1], 0.5)
    assert result["summarize"] == {"rows": [1, 2], "labels": [0, 1]}


def test_the_same_mapping_runs_with_threads_and_on_the_event_loop():
    @step(outputs=["data/raw"])
    def load():
        return 21

    @step(inputs=["data/raw"], outputs=["answer"])
    async def double(value):
        return value * 2

    pipe = Pipeline("mapping-async", enable_cache=False).add_step(load).add_step(double)
    assert pipe.run(max_workers=2)["answer"] == 42
    import asyncio

    assert asyncio.run(pipe.run_async())["answer"] == 42


def test_a_parameter_nothing_provides_fails_the_step_with_a_clear_logged_error(caplog):
    calls = []

    @step(outputs=["x"])
    def make():
        return 1

    @step(inputs=["x"])
    def needs_more(x, threshold):
        calls.append(x)

    with caplog.at_level(logging.ERROR, logger="flowyml"):
        result = Pipeline("missing", enable_cache=False).add_step(make).add_step(needs_more).run()
    error = result.step_results["needs_more"].error
    assert not result.success and calls == []
    assert "'threshold'" in error and "declared inputs: ['x']" in error and "missing 1 required" not in error
    assert any("needs_more" in r.getMessage() and "threshold" in r.getMessage() for r in caplog.records)


# -- 2. outputs by step name; asset-path names in artifacts ------------------------------------------
def test_a_steps_return_value_is_also_reachable_by_the_step_name():
    @step(outputs=["model/trained"])
    def train():
        return {"acc": 0.9}

    @step
    def notify():
        return "sent"

    @step
    def silent():
        return None

    result = Pipeline("by-name", enable_cache=False).add_step(train).add_step(notify).add_step(silent).run()
    assert result.outputs["train"] == result["train"] == result["model/trained"] == {"acc": 0.9}
    assert result["notify"] == "sent" and "silent" not in result.outputs
    # a missing name reads as None, as in FlowyML; membership tells them apart
    assert result["nope"] is None and "nope" not in result and result.get("nope", 7) == 7


def test_a_step_named_like_an_output_does_not_shadow_that_output():
    @step(outputs=["model"])
    def fit():
        return "weights"

    @step(name="model", inputs=["model"], outputs=["score"])
    def evaluate(model):
        return 0.5

    result = Pipeline("shadow", enable_cache=False).add_step(fit).add_step(evaluate).run()
    assert result["model"] == "weights" and result["score"] == 0.5


def test_asset_path_outputs_are_materialized_and_read_back(tmp_path):
    store = ArtifactStore(tmp_path.as_uri())

    @step(outputs=["data/raw", "data/meta"])
    def load():
        return [1, 2, 3], {"rows": 3}

    result = Pipeline("artifacts", enable_cache=False).add_step(load).run(artifact_store=store)
    uris = result.step_results["load"].artifact_uris
    assert set(uris) == {"data/raw", "data/meta"}
    assert store.load(uris["data/raw"]) == [1, 2, 3] and store.load(uris["data/meta"]) == {"rows": 3}


# -- 3. what FlowyML users pass to Pipeline/run and read back ----------------------------------------
def test_pipeline_accepts_version_and_project_and_keeps_them_in_run_metadata():
    @step(outputs=["x"])
    def one():
        return 1

    pipe = Pipeline("versioned", version="v1.0.1", project_name="ml_project", enable_cache=False, record_runs=True)
    pipe.add_step(one)
    result = pipe.run()
    assert pipe.version == "v1.0.1" and pipe.project_name == "ml_project"
    record = json.loads((pipe.runs_dir / f"{result.run_id}.json").read_text())
    assert record["metadata"]["version"] == "v1.0.1" and record["metadata"]["project"] == "ml_project"
    assert record == json.loads(json.dumps(result.to_dict()))
    assert record["steps"]["one"]["success"] and record["state"] == "completed"
    assert Pipeline("p", project="legacy").project_name == "legacy"


def test_flowyml_only_switches_are_accepted():
    pipe = Pipeline("switches", enable_checkpointing=False, enable_experiment_tracking=False, auto_track=False)
    assert pipe.name == "switches"
    with pytest.raises(TypeError):
        Pipeline("typo", enable_chache=False)  # type: ignore[call-arg]


def test_debug_runs_log_every_step_and_the_summary(caplog, capsys):
    @step(outputs=["x"])
    def one():
        return 1

    with caplog.at_level(logging.DEBUG, logger="flowyml"):
        result = Pipeline("debugging", enable_cache=False).add_step(one).run(debug=True)
    messages = [r.getMessage() for r in caplog.records]
    assert result.success
    assert any("step one starting" in m for m in messages) and any("step one ok" in m for m in messages)
    assert any(m.startswith("Pipeline: debugging") for m in messages)
    assert logging.getLogger("flowyml").level == logging.NOTSET  # restored after the run


def test_resources_and_docker_config_are_recorded_for_an_in_process_run():
    from flowyml import DockerConfig
    from flowyml.core.resources import ResourceRequirements

    @step
    def one():
        return 1

    result = (
        Pipeline("configs", enable_cache=False)
        .add_step(one)
        .run(resources=ResourceRequirements(cpu="2"), docker_config=DockerConfig(image="img:1"), auto_start_ui=False)
    )
    assert result.resource_config == ResourceRequirements(cpu="2") and result.docker_config.image == "img:1"
    assert result.to_dict()["metadata"]["resources"] == {"cpu": "2"}


def test_dry_run_checks_the_wiring_and_runs_nothing():
    calls = []

    @step(outputs=["x"])
    def one():
        calls.append(1)

    result = Pipeline("dry").add_step(one).run(dry_run=True)
    assert result.state == "dry_run" and calls == [] and "DRY RUN" in result.summary()


def test_summary_and_to_dict_describe_each_step():
    @step(outputs=["a"])
    def ok():
        return 1

    @step(inputs=["a"], retry=1)
    def broken(a):
        raise RuntimeError("bad things")

    @step(condition=lambda: False)
    def never():
        return 1

    from flowyml import LocalExecutor

    result = (
        Pipeline("report", enable_cache=False)
        .add_step(ok)
        .add_step(broken)
        .add_step(never)
        .run(executor=LocalExecutor(retry_base_delay=0))
    )
    text = result.summary()
    assert "Status: ✗ FAILED" in text and "✓ ok:" in text and "✗ broken:" in text and "[2 retries]" in text
    assert "Error: RuntimeError: bad things" in text and "never: 0.00s (skipped)" in text
    doc = result.to_dict()
    assert doc["state"] == "failed" and doc["success"] is False
    assert doc["steps"]["broken"]["retries"] == 2 and doc["steps"]["never"]["skipped"] is True
    assert datetime.fromisoformat(doc["end_time"]) >= datetime.fromisoformat(doc["start_time"])


def test_cache_store_stats_and_invalidation():
    calls = {"load": 0, "train": 0}

    @step(outputs=["data"])
    def load():
        calls["load"] += 1
        return [1, 2]

    @step(inputs=["data"], outputs=["model"])
    def train(data):
        calls["train"] += 1
        return sum(data)

    pipe = Pipeline("stats").add_step(load).add_step(train)
    assert Pipeline("off", enable_cache=False).cache_store is None
    assert Pipeline("off", enable_cache=False).cache_stats() == {}
    pipe.run()
    pipe.run()
    stats = pipe.cache_stats()
    assert calls == {"load": 1, "train": 1}
    assert stats["total_entries"] == 2 and stats["hits"] == 2 and stats["misses"] == 2 and stats["hit_rate"] == 0.5
    assert set(stats["by_step"]) == {"load", "train"} and stats["total_size_mb"] > 0
    assert pipe.invalidate_cache(step="train") == 1
    pipe.run()
    assert calls == {"load": 1, "train": 2}
    assert pipe.invalidate_cache(before=datetime.now() - timedelta(days=1)) == 0
    assert pipe.invalidate_cache(before=time.time() + 1) == 2
    assert pipe.cache_stats()["total_entries"] == 0


def test_a_cache_dir_is_honoured(tmp_path):
    @step(outputs=["x"])
    def one():
        return 1

    pipe = Pipeline("dir", cache_dir=tmp_path / "c").add_step(one)
    pipe.run()
    assert pipe.cache_store.root == tmp_path / "c" and list((tmp_path / "c").glob("*/*.pkl"))


@pytest.fixture
def parity_pipelines(monkeypatch):
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import parity_pipelines

    return parity_pipelines


def test_orchestrator_and_stack_keywords_submit_the_run(parity_pipelines):
    from flowyml.stacks.local import LocalOrchestrator

    plain = parity_pipelines.plain
    result = plain.run(orchestrator=LocalOrchestrator(), context={"count": 4})
    assert result.state == "submitted" and result.remote_job_id == result.submission_result.job_id
    assert "SUBMITTED" in result.summary() and result.metadata["orchestrator"] == "local"
    result.submission_result.wait_for_completion(timeout=60, poll_interval=0.2)
    assert result.submission_result.get_output("total") == 6
    # the default stack (local, without a flowyml.yaml) through stack=
    by_stack = plain.run(stack="local")
    by_stack.submission_result.wait_for_completion(timeout=60, poll_interval=0.2)
    assert by_stack.submission_result.get_output("raw") == [0, 1, 2]


def test_asset_path_outputs_work_on_a_backend(parity_pipelines):
    from flowyml.stacks.local import LocalOrchestrator

    sub = parity_pipelines.assets.run(orchestrator=LocalOrchestrator()).submission_result
    sub.wait_for_completion(timeout=60, poll_interval=0.2)
    assert sub.get_output("model/trained") == 3 and sub.get_output("data/raw") == [0, 1, 2]


def test_context_given_to_run_does_not_change_the_pipelines_context():
    @step(outputs=["x"])
    def one(n: int = 0):
        return n

    ctx = Context(n=1)
    pipe = Pipeline("ctx", context=ctx, enable_cache=False).add_step(one)
    assert pipe.run(context={"n": 5})["x"] == 5 and ctx.to_dict() == {"n": 1}


def test_check_cache_finds_the_latest_completed_run():
    @step(outputs=["x"])
    def one():
        return 1

    pipe = Pipeline("check-cache", enable_cache=False, record_runs=True).add_step(one)
    assert pipe.check_cache() is None
    first = pipe.run()
    second = pipe.run()
    found = pipe.check_cache()
    assert found["run_id"] == second.run_id != first.run_id and found["created_at"] == found["start_time"]
    assert Pipeline("check-cache-other").check_cache() is None


def test_run_records_are_off_unless_asked_for(monkeypatch):
    @step(outputs=["x"])
    def one():
        return 1

    quiet = Pipeline("quiet", enable_cache=False).add_step(one)
    ran = quiet.run()
    assert not list(quiet.runs_dir.glob("quiet-*.json"))
    assert quiet.check_cache()["run_id"] == ran.run_id  # remembered in this process, not written
    monkeypatch.setenv("FLOWYML_RECORD_RUNS", "1")
    recorded = Pipeline("loud", enable_cache=False).add_step(one)
    result = recorded.run()
    assert recorded.record_runs and (recorded.runs_dir / f"{result.run_id}.json").exists()
