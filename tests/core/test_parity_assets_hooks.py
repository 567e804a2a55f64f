"""FlowyML's assets, lifecycle hooks, metrics collectors and run-level retry policy."""

from __future__ import annotations

import asyncio
import io
import logging
import pickle
from pathlib import Path

import pytest

from flowyml import Dataset, LocalExecutor, Metrics, Model, Pipeline, step
from flowyml.artifacts.store import ArtifactStore
from flowyml.core import hooks, observability
from flowyml.core.retry_policy import OrchestratorRetryPolicy


@pytest.fixture(autouse=True)
def _no_leftover_hooks():
    yield
    hooks.get_global_hooks().clear()
    observability.set_metrics_collector(None)


@pytest.fixture
def parity_pipelines(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import parity_pipelines

    return parity_pipelines


def wait(sub):
    sub.wait_for_completion(timeout=90, poll_interval=0.2)
    return sub


# -- assets -----------------------------------------------------------------------------------------
def test_assets_carry_data_metadata_and_lineage():
    data = Dataset.create(
        data={"features": {"x": [1, 2, 3], "z": [0, 0, 1]}, "target": [0, 1, 0]},
        name="train",
        description="three rows",
        source="s3://b/train.csv",
        tags={"team": "ml"},
    )
    assert data.name == "train" and data.version == "v1.0.0" and data.data["target"] == [0, 1, 0]
    assert data.properties["description"] == "three rows" and data.properties["source"] == "s3://b/train.csv"
    assert (data.num_samples, data.num_features, data.feature_columns, data.label_column) == (
        3,
        2,
        ["x", "z"],
        "target",
    )
    assert data.tags == {"team": "ml"} and data.metadata.asset_type == "Dataset"

    model = Model.create(data=object(), name="clf", trained_on=data, lr=0.1)
    metrics = Metrics.create(accuracy=0.95, loss=0.05, name="eval", parents=[model], metadata={"split": "val", "n": 3})
    assert model.get_training_datasets() == [data] and data.children == [model] and model.properties["lr"] == 0.1
    assert model.metadata.parent_ids == [data.asset_id] and model.properties["trained_on"] == ["train"]
    assert metrics.get_metric("accuracy") == 0.95 and metrics.values == {"accuracy": 0.95, "loss": 0.05}
    assert metrics.tags == {"split": "val"} and metrics.properties["n"] == 3 and metrics.properties["loss"] == 0.05
    assert metrics.get_all_ancestors() == {model, data} and data.get_all_descendants() == {model, metrics}
    assert metrics.get_lineage()["parents"][0]["parents"][0]["asset"]["name"] == "train"
    assert Metrics.create(accuracy=0.9).compare_with(metrics)["accuracy"]["diff"] == pytest.approx(-0.05)
    assert Dataset.create(data=[1, 2], name="plain").num_samples == 2


def test_a_model_knows_its_framework_without_importing_it():
    class FakeEstimator:
        pass

    FakeEstimator.__module__ = "sklearn.linear_model._logistic"
    model = Model.create(data=FakeEstimator(), name="lr")
    assert model.framework == "sklearn" and model.properties["architecture"] == "FakeEstimator"
    assert Model.from_keras(object(), name="k", epochs=3).framework == "keras"
    assert Model.from_pytorch(object()).properties["framework"] == "pytorch"


def test_pickled_assets_keep_their_metadata_and_reference_parents_without_data():
    data = Dataset.create(data=list(range(10_000)), name="big")
    model = Model.create(data={"w": 1}, name="m", trained_on=data, note="n")
    copy = pickle.loads(pickle.dumps(model))
    assert copy == model and copy.metadata == model.metadata and copy.data == {"w": 1}
    [parent] = copy.get_training_datasets()
    assert parent == data and parent.name == "big" and parent.num_samples == 10_000 and parent.data is None
    assert len(pickle.dumps(model)) < 2_000  # the dataset's data did not travel
    store_copy = pickle.loads(pickle.dumps(data))
    assert store_copy.data == data.data  # an asset's own data always travels


def test_assets_pass_between_steps_and_through_the_cache_and_the_artifact_store(tmp_path, parity_pipelines):
    typed = parity_pipelines.typed
    store = ArtifactStore(tmp_path.as_uri())
    result = typed.run(artifact_store=store)
    model = result["model"]
    assert result.success and isinstance(model, Model) and model.get_training_datasets()[0] is result["train_set"]
    uri = result.step_results["fit"].artifact_uris["model"]
    loaded = store.load(uri)
    assert isinstance(loaded, Model) and loaded.metadata == model.metadata and loaded.properties["lr"] == 0.1
    assert loaded.get_training_datasets()[0].metadata == result["train_set"].metadata

    cached = Pipeline("typed-cached").add_step(parity_pipelines.make_dataset).add_step(parity_pipelines.fit)
    first, second = cached.run(), cached.run()
    assert second.step_results["fit"].cached and second["model"].metadata == first["model"].metadata


def test_assets_come_back_from_a_backend_with_their_metadata(parity_pipelines):
    from flowyml.stacks.local import LocalOrchestrator

    sub = wait(LocalOrchestrator().run_pipeline(parity_pipelines.typed))
    model, metrics = sub.get_output("model"), sub.get_output("metrics")
    assert isinstance(model, Model) and model.name == "clf" and model.properties["lr"] == 0.1
    [dataset] = model.get_training_datasets()
    assert dataset.name == "train" and dataset.properties["source"] == "unit" and dataset.num_samples == 3
    assert isinstance(metrics, Metrics) and metrics.get_metric("accuracy") == 0.9 and metrics.tags == {"split": "val"}
    assert metrics.parents[0] == model and sub.get_output("train_set").data["target"] == [0, 1, 0]


# -- hooks --------------------------------------------------------------------------------------------
def test_hooks_run_around_the_pipeline_and_each_step_in_order():
    events: list[tuple] = []

    @hooks.on_pipeline_start
    def started(pipeline):
        events.append(("pipeline_start", pipeline.name))

    @hooks.on_step_start
    def step_start(s, inputs):
        events.append(("step_start", s.name, dict(inputs)))

    @hooks.on_step_end
    def step_end(s, result):
        events.append(("step_end", s.name, result.status))

    @hooks.on_pipeline_end
    def ended(pipeline, result):
        events.append(("pipeline_end", pipeline.name, result.success, sorted(result.outputs)))

    @step(outputs=["x"])
    def one():
        return 1

    @step(inputs=["x"], condition=lambda x: x > 5)
    def gated(x):
        return x

    @step(inputs=["x"])
    def two(value):
        return value + 1

    assert started is not None and ended is not None  # the decorators hand the function back
    Pipeline("hooked", enable_cache=False).add_step(one).add_step(gated).add_step(two).run()
    assert events == [
        ("pipeline_start", "hooked"),
        ("step_start", "one", {}),
        ("step_end", "one", "ok"),
        ("step_start", "gated", {"x": 1}),
        ("step_end", "gated", "skipped"),
        ("step_start", "two", {"value": 1}),
        ("step_end", "two", "ok"),
        ("pipeline_end", "hooked", True, ["one", "two", "x"]),
    ]


def test_a_failing_hook_is_logged_and_the_run_goes_on(caplog):
    seen = []

    @hooks.on_step_end
    def broken(s, result):
        raise RuntimeError("hook bug")

    @hooks.on_step_end
    def fine(s, result):
        seen.append(s.name)

    @step
    def only():
        return 1

    with caplog.at_level(logging.WARNING, logger="flowyml.core.hooks"):
        result = Pipeline("hook-bug", enable_cache=False).add_step(only).run()
    assert result.success and seen == ["only"]
    assert any("step end hook" in r.getMessage() and "broken" in r.getMessage() for r in caplog.records)


def test_hooks_run_for_async_runs_too():
    names = []
    hooks.on_step_end(lambda s, result: names.append(s.name))

    @step(outputs=["a"])
    async def first():
        return 1

    @step(inputs=["a"])
    def second(a):
        return a

    asyncio.run(Pipeline("hooks-async", enable_cache=False).add_step(first).add_step(second).run_async())
    assert names == ["first", "second"]


def test_step_hooks_run_inside_the_step_runner_on_a_backend(parity_pipelines, tmp_path, monkeypatch):
    from flowyml.stacks.local import LocalOrchestrator

    log = tmp_path / "hooks.log"
    monkeypatch.setenv("PARITY_HOOK_LOG", str(log))
    wait(LocalOrchestrator().run_pipeline(parity_pipelines.plain))
    lines = log.read_text().splitlines()
    assert lines == ["start load []", "end load ok", "start train ['data']", "end train ok"]


# -- metrics collectors -------------------------------------------------------------------------------
def test_the_console_collector_reports_pipeline_and_step_events():
    out = io.StringIO()
    observability.set_metrics_collector(observability.ConsoleMetricsCollector(stream=out))
    assert isinstance(observability.get_metrics_collector(), observability.MetricsCollector)

    @step
    def only():
        return 1

    Pipeline("observed", enable_cache=False).add_step(only).run()
    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "📊 Pipeline Started",
        "📊 Step Started",
        "📊 Step Ended",
        "📊 Pipeline Ended",
    ]
    assert "'step_name': 'only'" in lines[2] and "'success': True" in lines[3]


def test_a_custom_collector_sees_cache_hits_and_a_broken_one_never_fails_the_run(caplog):
    class Recorder:
        def __init__(self):
            self.events = []

        def record_pipeline_start(self, pipeline, run_id):
            self.events.append(("start", pipeline.name))

        def record_pipeline_end(self, pipeline, result):
            self.events.append(("end", result.success))

        def record_step_start(self, s, pipeline_name, run_id):
            self.events.append(("step", s.name))

        def record_step_end(self, s, result, pipeline_name, run_id):
            self.events.append(("done", s.name, result.cached))

    @step(outputs=["x"])
    def cached_step():
        return 1

    pipe = Pipeline("collected").add_step(cached_step)
    recorder = Recorder()
    observability.set_metrics_collector(recorder)
    pipe.run()
    pipe.run()
    assert recorder.events[-3:] == [("step", "cached_step"), ("done", "cached_step", True), ("end", True)]

    class Broken(Recorder):
        def record_step_end(self, s, result, pipeline_name, run_id):
            raise ValueError("collector bug")

    observability.set_metrics_collector(Broken())
    with caplog.at_level(logging.WARNING, logger="flowyml.core.observability"):
        assert pipe.run().success
    assert any("record_step_end failed" in r.getMessage() for r in caplog.records)


# -- run-level retry policy ---------------------------------------------------------------------------
def test_policy_delays_back_off_up_to_the_maximum():
    policy = OrchestratorRetryPolicy(max_attempts=5, initial_delay=10, max_delay=35, multiplier=2)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [10, 20, 35, 35]
    assert policy.should_retry("FAILED", 1) and not policy.should_retry("FAILED", 5)
    assert not policy.should_retry("STOPPED", 1) and OrchestratorRetryPolicy(retry_on_status=["stopped"]).should_retry(
        "STOPPED", 1
    )
    assert OrchestratorRetryPolicy.from_env(policy.to_env()) == policy
    assert 10 <= OrchestratorRetryPolicy(initial_delay=10, jitter=True).delay(1) <= 11
    with pytest.raises(ValueError, match="max_attempts must be >= 1"):
        OrchestratorRetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="FLOWYML_RETRY_POLICY"):
        OrchestratorRetryPolicy.from_env({"FLOWYML_RETRY_POLICY": "{not json"})


def test_a_run_retries_only_its_failed_steps_after_the_policys_delay(monkeypatch):
    calls = {"load": 0, "flaky": 0, "after": 0}
    slept: list[float] = []
    monkeypatch.setattr("flowyml.core.pipeline.time.sleep", slept.append)

    @step(outputs=["x"])
    def load():
        calls["load"] += 1
        return 1

    @step(inputs=["x"], outputs=["y"])
    def flaky(x):
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise ConnectionError("flaky service")
        return x + 1

    @step(inputs=["y"])
    def after(y):
        calls["after"] += 1
        return y

    pipe = Pipeline("policy", enable_cache=False).add_step(load).add_step(flaky).add_step(after)
    policy = OrchestratorRetryPolicy(max_attempts=3, initial_delay=5, multiplier=3)
    result = pipe.run(retry_policy=policy, executor=LocalExecutor(retry_base_delay=0))
    assert result.success and result["after"] == 2 and result.metadata["attempts"] == 3
    assert calls == {"load": 1, "flaky": 3, "after": 1} and slept == [5, 15]

    calls.update(flaky=-10)
    failed = pipe.run(retry_policy=OrchestratorRetryPolicy(max_attempts=2, initial_delay=0))
    assert not failed.success and failed.metadata["attempts"] == 2 and failed.step_results["after"].skipped


def test_the_step_runner_applies_a_policy_from_its_environment(parity_pipelines, tmp_path, monkeypatch):
    from flowyml.stacks.local import LocalOrchestrator

    monkeypatch.setenv("PARITY_FLAKY_DIR", str(tmp_path))
    policy = OrchestratorRetryPolicy(max_attempts=2, initial_delay=0.1)
    for key, value in policy.to_env().items():
        monkeypatch.setenv(key, value)
    sub = wait(LocalOrchestrator().run_pipeline(parity_pipelines.flaky))
    assert sub.get_output("flaky") == "ok" and (tmp_path / "attempted").exists()


def test_end_hooks_run_when_the_submitting_process_sees_a_backend_run_end(parity_pipelines, tmp_path, monkeypatch):
    from flowyml import RunFailedError
    from flowyml.stacks.local import LocalOrchestrator

    ended = []
    hooks.on_pipeline_end(lambda pipeline, result: ended.append((pipeline.name, result.success, result.state, result)))
    sub = wait(LocalOrchestrator().run_pipeline(parity_pipelines.plain))
    sub.wait_for_completion(timeout=30, poll_interval=0.2)  # a second wait does not call them again
    [(name, success, state, result)] = ended
    assert (name, success, state) == ("parity-plain", True, "completed")
    assert sorted(result.step_results) == ["load", "train"] and result.step_results["train"].success
    assert result.step_results["load"].artifact_uris["raw"] and result.run_id == sub.run_id

    monkeypatch.setenv("PARITY_FLAKY_DIR", str(tmp_path))
    failing = LocalOrchestrator().run_pipeline(parity_pipelines.flaky)
    with pytest.raises(RunFailedError):
        failing.wait_for_completion(timeout=60, poll_interval=0.2)
    assert ended[-1][:3] == ("parity-flaky", False, "failed")
    assert "the first attempt fails" in ended[-1][3].step_results["flaky_once"].error
