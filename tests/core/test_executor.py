"""LocalExecutor: conditions, cache, retries, capture, artifacts, groups."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from flowyml import LocalExecutor, Pipeline, Step, step
from flowyml.artifacts.storage import FileStorage
from flowyml.artifacts.store import ArtifactStore
from flowyml.core.cache import FileCacheStore
from flowyml.core.dag import DAG
from flowyml.core.errors import StepGroupError
from flowyml.core.step_grouping import StepGroup, get_execution_units, get_unit_dependencies


def test_condition_sees_context_outputs_and_flattened_dict_outputs():
    seen = {}

    def cond(quality_score, threshold, data):
        seen.update(quality_score=quality_score, threshold=threshold, data=data)
        return quality_score > threshold

    s = Step(lambda data: data, name="gate", inputs=["data"], outputs=["x"], condition=cond)
    result = LocalExecutor().execute_step(
        s, {"data": 1}, {"threshold": 0.5}, all_outputs={"report": {"quality_score": 0.9}, "data": 0}
    )
    assert result.success and not result.skipped and result.output == 1
    assert seen == {"quality_score": 0.9, "threshold": 0.5, "data": 1}
    skipped = LocalExecutor().execute_step(
        s, {"data": 1}, {"threshold": 0.95}, all_outputs={"report": {"quality_score": 0.9}}
    )
    assert skipped.success and skipped.skipped and skipped.output is None


def test_a_condition_that_raises_fails_the_step():
    s = Step(lambda: 1, name="s", condition=lambda missing: True)
    result = LocalExecutor().execute_step(s, {}, {})
    assert not result.success and "condition check failed" in result.error


def test_retry_backs_off_exponentially_then_succeeds():
    calls = []

    @step(retry=3)
    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("try again")
        return "ok"

    sleeps = []
    executor = LocalExecutor(retry_base_delay=0.5)
    import flowyml.core.executor as ex

    original = ex.time.sleep
    ex.time.sleep = sleeps.append
    try:
        result = executor.execute_step(flaky, {}, {})
    finally:
        ex.time.sleep = original
    assert result.success and result.output == "ok" and result.retries == 2
    assert sleeps == [0.5, 1.0]


def test_retries_exhausted_report_the_last_error():
    @step(retry=1)
    def always():
        raise ValueError("nope")

    result = LocalExecutor(retry_base_delay=0).execute_step(always, {}, {})
    # as FlowyML counts: every failed attempt, the last one included
    assert not result.success and result.retries == 2 and "ValueError: nope" in result.error


def test_timeout_fails_the_step():
    import time

    @step(timeout=0.2)
    def slow():
        time.sleep(2)

    result = LocalExecutor().execute_step(slow, {}, {})
    assert not result.success and "timed out after 0.2s" in result.error


def test_capture_is_per_step_even_when_steps_run_concurrently():
    barrier = threading.Barrier(2, timeout=10)

    def make(name):
        @step(name=name)
        def talk():
            for i in range(50):
                print(f"{name}-{i}")
                if i == 10:
                    barrier.wait()

        return talk

    results = {}

    def run(name):
        results[name] = LocalExecutor().execute_step(make(name), {}, {})

    threads = [threading.Thread(target=run, args=(n,)) for n in ("left", "right")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name in ("left", "right"):
        lines = results[name].logs.splitlines()
        assert lines == [f"{name}-{i}" for i in range(50)]


def test_cache_hit_in_a_new_process_and_code_change_invalidates(tmp_path: Path):
    module = tmp_path / "cached_pipeline.py"

    def write(body: str) -> None:
        module.write_text(
            textwrap.dedent(f"""
            from flowyml import Pipeline, step

            @step(outputs=["value"])
            def compute(n: int = 3):
                {body}

            pipeline = Pipeline("cached").add_step(compute)
            r = pipeline.run()
            print(r.step_results["compute"].cached, r["value"])
        """)
        )

    def run() -> str:
        proc = subprocess.run([sys.executable, str(module)], capture_output=True, text=True, check=True)
        return proc.stdout.strip().splitlines()[-1]

    write("return n * 2")
    assert run() == "False 6"
    assert run() == "True 6"  # same code, same inputs: hit, in another process
    write("return n * 3")
    assert run() == "False 9"  # the code changed: miss


def test_cache_key_depends_on_inputs_and_params():
    s = Step(lambda x, p: x, name="s", inputs=["x"])
    assert s.get_cache_key({"x": 1}, {"p": 1}) != s.get_cache_key({"x": 2}, {"p": 1})
    assert s.get_cache_key({"x": 1}, {"p": 1}) != s.get_cache_key({"x": 1}, {"p": 2})
    assert s.get_cache_key({"x": 1}, {"p": 1}) == s.get_cache_key({"x": 1}, {"p": 1})


def test_a_cache_write_error_fails_the_step_instead_of_being_swallowed(tmp_path: Path):
    @step(outputs=["fn"])
    def unpicklable():
        return lambda: 1

    result = LocalExecutor().execute_step(unpicklable, {}, {}, cache_store=FileCacheStore(tmp_path))
    assert not result.success and "cannot cache the output of step 'unpicklable'" in result.error


def test_outputs_are_materialized_with_a_manifest(tmp_path: Path):
    store = ArtifactStore(tmp_path.as_uri(), storage=FileStorage(tmp_path.as_uri()))

    @step(outputs=["model", "metrics"])
    def train():
        return b"weights", {"acc": 0.9}

    result = LocalExecutor().execute_step(train, {}, {}, artifact_store=store, run_id="r1")
    assert result.success
    assert set(result.artifact_uris) == {"model", "metrics"}
    assert store.load(result.artifact_uris["model"]) == b"weights"
    assert store.load_output("r1", "train", "metrics") == {"acc": 0.9}
    assert store.manifest(result.artifact_uris["metrics"])["serializer"] == "json"


def test_an_artifact_write_error_fails_the_step(tmp_path: Path):
    class BrokenStore:
        def materialize(self, **kwargs):
            raise OSError("disk full")

    result = LocalExecutor().execute_step(
        Step(lambda: 1, name="s", outputs=["x"]), {}, {}, artifact_store=BrokenStore(), run_id="r"
    )
    assert not result.success and "disk full" in result.error


# -- groups --------------------------------------------------------------------------------------
def _group_steps():
    @step(outputs=["raw"], execution_group="prep")
    def load():
        return [3, 1, 2]

    @step(inputs=["raw"], outputs=["sorted_data"], execution_group="prep")
    def sort_it(data):  # positional mapping: 'raw' lands on 'data'
        return sorted(data)

    @step(inputs=["sorted_data"], outputs=["first"])
    def head(sorted_data):
        return sorted_data[0]

    return load, sort_it, head


def test_execution_units_group_steps_and_keep_dag_order():
    load, sort_it, head = _group_steps()
    p = Pipeline("groups").add_step(load).add_step(sort_it).add_step(head)
    units = get_execution_units(p.dag, p.steps)
    assert isinstance(units[0], StepGroup) and units[0].group_name == "prep"
    assert units[0].execution_order == ["load", "sort_it"] and units[0].steps == [load, sort_it]
    assert units[1] is head
    assert get_unit_dependencies(p.dag, units) == {"prep": [], "head": ["prep"]}


def test_group_resources_are_merged():
    a = Step(lambda: 1, name="a", outputs=["x"], execution_group="g", resources={"cpu": "1", "memory": "8Gi"})
    b = Step(lambda x: 1, name="b", inputs=["x"], outputs=["y"], execution_group="g", resources={"cpu": "4"})
    units = get_execution_units(DAG([a, b]), [a, b])
    assert units[0].resources.cpu == "4" and units[0].resources.memory == "8Gi"


def test_a_group_with_an_outside_step_in_the_middle_is_split():
    a = Step(lambda: 1, name="a", outputs=["x"], execution_group="g")
    middle = Step(lambda x: 1, name="middle", inputs=["x"], outputs=["y"])
    b = Step(lambda y: 1, name="b", inputs=["y"], outputs=["z"], execution_group="g")
    units = get_execution_units(DAG([a, middle, b]), [a, middle, b])
    assert [getattr(u, "group_name", u.name) for u in units] == ["g_0", "middle", "g_1"]


def test_two_groups_feeding_each_other_are_refused():
    a = Step(lambda: 1, name="a", outputs=["x"], execution_group="g1")
    b = Step(lambda: 1, name="b", outputs=["y"], execution_group="g2")
    c = Step(lambda x: 1, name="c", inputs=["x"], outputs=["z"], execution_group="g2")
    d = Step(lambda y: 1, name="d", inputs=["y"], outputs=["w"], execution_group="g1")
    with pytest.raises(StepGroupError, match=r"'g1'.*cannot run as one job"):
        get_execution_units(DAG([a, b, c, d]), [a, b, c, d])


def test_execute_step_group_maps_inputs_and_skips_after_failure():
    load, sort_it, _head = _group_steps()
    group = StepGroup("prep", [load, sort_it], ["load", "sort_it"])
    results = LocalExecutor().execute_step_group(group, {})
    assert [r.output for r in results] == [[3, 1, 2], [1, 2, 3]]

    @step(outputs=["raw"])
    def boom():
        raise KeyError("x")

    failing = StepGroup("prep", [boom, sort_it], ["boom", "sort_it"])
    results = LocalExecutor().execute_step_group(failing, {})
    assert not results[0].success and results[1].skipped and "boom" in results[1].error
