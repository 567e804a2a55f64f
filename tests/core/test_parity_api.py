"""FlowyML 2.x parity of the core modules: import paths, resources, graph, cache, groups, context."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flowyml import Pipeline, context, step
from flowyml.core.resources import GPUConfig, NodeAffinity, ResourceConfig, ResourceRequirements

ROOT = Path(__file__).resolve().parents[2]


# -- 4. import paths ------------------------------------------------------------------------------
def test_flowyml_core_exports_what_flowyml_code_imports():
    from flowyml.core import Context, LocalExecutor, Step
    from flowyml.core import GPUConfig as G
    from flowyml.core import Pipeline as P
    from flowyml.core import ResourceRequirements as R
    from flowyml.core import context as ctx_function
    from flowyml.core import step as step_decorator
    from flowyml.core.cache import CacheStore
    from flowyml.core.execution_status import ExecutionStatus
    from flowyml.core.graph import DAG, Node
    from flowyml.core.submission_result import SubmissionResult

    assert P is Pipeline and step_decorator is step and ctx_function is context and G is GPUConfig
    assert R is ResourceRequirements and isinstance(ctx_function(a=1), Context)
    assert callable(LocalExecutor) and callable(Step) and callable(CacheStore) and callable(DAG) and callable(Node)
    assert ExecutionStatus.RUNNING.is_active and SubmissionResult.__name__ == "SubmissionResult"


def test_import_flowyml_core_stays_light():
    code = (
        "import sys, flowyml.core; "
        "names = ('flowyml.core.pipeline', 'flowyml.core.executor', 'boto3', 'google.cloud.aiplatform', "
        "'azure.ai.ml'); print([m for m in names if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- 4. resources --------------------------------------------------------------------------------
def test_resource_requirements_merge_keeps_the_larger_quantities_as_written():
    a = ResourceRequirements(cpu="500m", memory="4096Mi", storage="10Gi", gpu=GPUConfig("nvidia-t4", 4, "16Gi"))
    b = ResourceRequirements(cpu="2", memory="2Gi", gpu=GPUConfig("nvidia-tesla-a100", 1, "40Gi"))
    merged = a.merge_with(b)
    assert (merged.cpu, merged.memory, merged.storage) == ("2", "4096Mi", "10Gi")
    assert merged.gpu == GPUConfig("nvidia-tesla-a100", 4, "40Gi")
    assert merged["gpu"] == 4 and merged["cpu"] == "2" and merged.to_dict()["gpu"]["type"] == "nvidia-tesla-a100"


@pytest.mark.parametrize(
    ("first", "second", "best"),
    [
        ("nvidia-t4", "nvidia-v100", "nvidia-v100"),
        ("a100", "nvidia-tesla-v100", "a100"),
        ("mystery-gpu", "t4", "t4"),
        ("mystery-gpu", "other", "mystery-gpu"),
    ],
)
def test_gpu_merge_picks_the_best_type(first, second, best):
    assert GPUConfig(first).merge_with(GPUConfig(second)).gpu_type == best
    assert GPUConfig(second).merge_with(GPUConfig(first)).gpu_type == (best if best != "mystery-gpu" else "other")


def test_bad_quantities_are_refused_with_the_field_named():
    with pytest.raises(ValueError, match="invalid cpu 'two'"):
        ResourceRequirements(cpu="two")
    with pytest.raises(ValueError, match="invalid memory '4 gigs'"):
        ResourceRequirements(memory="4 gigs")
    with pytest.raises(ValueError, match="GPU count must be >= 1"):
        GPUConfig("t4", count=0)
    with pytest.raises(ValueError, match=r"step 'bad': resources: unknown key\(s\) gpus"):
        step(name="bad", resources={"gpus": 1})(lambda: 1)


def test_step_resources_read_as_written_in_every_form():
    @step(resources={"cpu": "4", "memory": "16Gi", "gpu": 2})
    def counted():
        return 1

    @step(resources={"gpu": {"type": "nvidia-v100", "count": 3}, "storage": "100Gi"})
    def typed():
        return 1

    @step(resources={"cpu": "1", "gpu": "t4", "gpu_count": 2, "disk": "20Gi", "machine_type": "n1-standard-4"})
    def ours():
        return 1

    @step(resources=ResourceConfig(cpu="8", gpu="a100", gpu_count=1))
    def config():
        return 1

    assert isinstance(counted.resources, ResourceRequirements)
    assert counted.resources["cpu"] == "4" and counted.resources["memory"] == "16Gi" and counted.resources["gpu"] == 2
    assert typed.resources["gpu"] == 3 and typed.resources.gpu.gpu_type == "nvidia-v100"
    assert typed.resources["storage"] == "100Gi"
    assert ours.resources["gpu"] == 2 and ours.resources.gpu.gpu_type == "t4" and ours.resources["disk"] == "20Gi"
    assert config.resources["gpu"] == 1 and config.resources["cpu"] == "8"
    # what a backend receives
    backend = ours.resources.with_defaults(ResourceConfig(memory="2Gi"))
    assert backend == ResourceConfig(
        cpu="1", memory="2Gi", gpu="t4", gpu_count=2, disk="20Gi", machine_type="n1-standard-4"
    )
    assert NodeAffinity(required={"a": "1"}).merge_with(NodeAffinity(required={"b": "2"})).required == {
        "a": "1",
        "b": "2",
    }


# -- 4. graph ------------------------------------------------------------------------------------
def test_graph_dag_builds_edges_from_asset_names():
    from flowyml.core.graph import DAG, Node

    dag = DAG()
    dag.add_node(Node("train", None, ["data/clean"], ["model"]))
    dag.add_node(Node("clean", None, ["data/raw"], ["data/clean"]))
    dag.add_node(Node("load", None, [], ["data/raw"]))
    dag.add_node(Node("report", None, ["model", "data/clean"], []))
    dag.build_edges()
    assert dag.edges["report"] == {"train", "clean"} and dag.edges["load"] == set()
    assert [n.name for n in dag.topological_sort()] == ["load", "clean", "train", "report"]
    assert all(isinstance(n, Node) for n in dag.topological_sort()) and dag.nodes["train"].outputs == ["model"]
    assert dag.get_all_dependencies("report") == {"load", "clean", "train"}
    assert dag.validate() == ([], [])
    dag.add_node(Node("loop", None, ["model"], ["data/raw"]))
    dag.build_edges()
    errors, _ = dag.validate()
    assert any("cycle" in e for e in errors) and any("Multiple nodes produce asset 'data/raw'" in e for e in errors)
    with pytest.raises(ValueError, match="cycle"):
        dag.topological_sort()


def test_a_pipelines_dag_answers_nodes_and_edges_too():
    @step(outputs=["a"])
    def first():
        return 1

    @step(inputs=["a"], outputs=["b"])
    def second(a):
        return a

    pipe = Pipeline("graph").add_step(first).add_step(second)
    pipe.build()
    assert pipe.dag.edges == {"first": set(), "second": {"first"}}
    assert pipe.dag.nodes["second"].step is second and pipe.dag.nodes["second"].inputs == ["a"]


# -- 4. CacheStore -------------------------------------------------------------------------------
def test_cache_store_in_flowyml_form(tmp_path):
    from flowyml.core.cache import CacheStore

    store = CacheStore(str(tmp_path / "cache"))
    assert store.get("k") is None
    store.set_value("k", {"v": 1}, "step_a", "abc123")
    assert store.get("k") == {"v": 1} and store.stats()["by_step"]["step_a"]["count"] == 1
    store.invalidate(key="k")
    assert store.get("k") is None and store.stats()["misses"] == 2 and store.stats()["hits"] == 1


# -- 9. cache keys are a pure function of values ---------------------------------------------------
def test_cache_keys_do_not_depend_on_object_identity():
    from flowyml.core.cache import stable_digest

    shared = "".join(["v", "1"])
    other = "".join(["v", "1"])
    assert shared is not other
    assert stable_digest(({"x": shared}, {"version": shared})) == stable_digest(({"x": shared}, {"version": other}))
    assert stable_digest({"a": 1, "b": 2}) == stable_digest({"b": 2, "a": 1})
    assert stable_digest({"tag", "x", "y"}) == stable_digest({"y", "tag", "x"})
    big = list(range(1000))
    assert stable_digest([big, big]) == stable_digest([big, list(range(1000))])
    assert stable_digest(1) != stable_digest(1.0) != stable_digest("1") and stable_digest(True) != stable_digest(1)


def test_a_step_fed_a_context_value_through_another_step_is_cached_on_the_second_run():
    calls = {"version": 0, "train": 0}

    @step(outputs=["version"])
    def pick_version(data_version: str):
        calls["version"] += 1
        return data_version  # the very string object the context holds

    @step(inputs=["version"], outputs=["model"])
    def train(version, data_version: str):
        calls["train"] += 1
        return f"model@{version}/{data_version}"

    pipe = Pipeline("identity", context=context(data_version="".join(["v", "1"])))
    pipe.add_step(pick_version).add_step(train)
    first, second = pipe.run(), pipe.run()
    assert first["model"] == second["model"] == "model@v1/v1"
    assert calls == {"version": 1, "train": 1} and second.step_results["train"].cached


def test_cache_strategy_names_and_callables():
    calls = []

    @step(outputs=["x"], cache="code_hash")
    def by_code(n: int = 1):
        calls.append(n)
        return n

    @step(inputs=["x"], outputs=["y"], cache=lambda inputs, params: inputs["x"] % 2)
    def by_parity(x):
        calls.append(("parity", x))
        return x * 10

    pipe = Pipeline("strategies", context=context(n=1)).add_step(by_code).add_step(by_parity)
    assert pipe.run()["y"] == 10
    assert pipe.run(context={"n": 3})["y"] == 10  # same parity: the custom key says "cached"
    assert calls == [1, ("parity", 1), 3]
    with pytest.raises(ValueError, match="cache must be True, False, a callable or one of code_hash, input_hash"):
        step(cache="forever")(lambda: 1)


# -- 5. execution groups --------------------------------------------------------------------------
def test_step_groups_after_build_hold_grouped_steps_with_aggregated_resources():
    @step(outputs=["d"], execution_group="train", resources={"cpu": "2", "memory": "4Gi"})
    def prep():
        return 1

    @step(inputs=["d"], outputs=["m"], execution_group="train", resources={"cpu": "4", "gpu": 2})
    def fit(d):
        return d

    @step(inputs=["m"])
    def report(m):
        return m

    pipe = Pipeline("groups").add_step(prep).add_step(fit).add_step(report)
    assert Pipeline("none").add_step(report).step_groups == []
    pipe.build()
    [group] = pipe.step_groups
    assert group.group_name == "train" and [s.name for s in group.steps] == ["prep", "fit"]
    res = group.aggregated_resources
    assert isinstance(res, ResourceRequirements) and (res.cpu, res.memory, res["gpu"]) == ("4", "4Gi", 2)
    assert group.execution_order == ["prep", "fit"]


# -- 7. context --------------------------------------------------------------------------------------
def test_context_update_inherit_and_validate_for_step():
    base = context(lr=0.1, epochs=3)
    base.update({"epochs": 5})
    assert base.epochs == 5 and base["epochs"] == 5
    child = base.inherit(lr=0.01, batch=32)
    assert (child.lr, child.epochs, child["batch"]) == (0.01, 5, 32)
    assert child.get("epochs") == 5 and child.get("missing", "d") == "d"
    assert set(child.keys()) == {"lr", "epochs", "batch"} and dict(child.items())["epochs"] == 5
    assert child.to_dict() == {"lr": 0.01, "epochs": 5, "batch": 32} and len(child) == 3
    base.update(epochs=7)  # the child reads its parent live
    assert child.epochs == 7 and "epochs" in child and "nope" not in child
    with pytest.raises(AttributeError, match="context has no parameter 'nope'"):
        _ = child.nope

    def train(data, lr, epochs, seed, verbose=False, *args, **kwargs):
        return data

    assert child.validate_for_step(train) == ["data", "seed"]
    assert child.validate_for_step(train, exclude=["data"]) == ["seed"]
    assert child.inject_params(train) == child.to_dict()


def test_an_inherited_context_feeds_the_steps():
    @step(outputs=["out"])
    def use(lr: float, epochs: int):
        return (lr, epochs)

    parent = context(lr=0.1, epochs=2)
    result = Pipeline("inherit", context=parent.inherit(lr=0.5), enable_cache=False).add_step(use).run()
    assert result["out"] == (0.5, 2)


# -- the FlowyML-style example pipelines run unchanged -------------------------------------------------
@pytest.mark.parametrize("example", ["caching", "conditions", "step_groups", "assets_and_hooks"])
def test_flowyml_style_examples_run(example, flowyml_home):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "flowyml2" / f"{example}.py")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
