"""The pipeline API: steps, context, DAG errors, local runs (sequential and parallel)."""

from __future__ import annotations

import threading

import pytest

from flowyml import ExecutionStatus, Pipeline, PipelineDefinitionError, ResourceConfig, Step, context, step
from flowyml.core.resources import ResourceRequirements


def quickstart() -> Pipeline:
    @step(outputs=["dataset"])
    def load_data(batch_size: int = 32):
        return [i for i in range(batch_size)]

    @step(inputs=["dataset"], outputs=["model"])
    def train_model(dataset, learning_rate: float = 0.01):
        print(f"Training on {len(dataset)} items with lr={learning_rate}")
        return "model_v1"

    ctx = context(learning_rate=0.05, batch_size=64)
    pipeline = Pipeline("quickstart", context=ctx)
    pipeline.add_step(load_data).add_step(train_model)
    return pipeline


def test_the_quickstart_runs_unchanged():
    result = quickstart().run()
    assert result.success and result["model"] == "model_v1"
    assert len(result["dataset"]) == 64  # batch_size came from the context
    assert result.step_results["train_model"].logs == "Training on 64 items with lr=0.05\n"
    assert result.run_id.startswith("quickstart-")


def test_step_works_bare_and_called_and_stays_callable():
    @step
    def bare(x: int = 1) -> int:
        return x + 1

    @step(
        name="renamed",
        outputs="y",
        retry=2,
        timeout=5,
        tags={"team": "ml"},
        resources={"cpu": 2},
        execution_group="g",
        cache=False,
    )
    def called(x: int) -> int:
        return x * 2

    assert isinstance(bare, Step) and bare.name == "bare" and bare(3) == 4
    assert called.name == "renamed" and called.outputs == ["y"] and called.retry == 2 and called.timeout == 5
    assert called.resources == ResourceRequirements(cpu="2") and called.resources["cpu"] == "2"
    assert called.tags == {"team": "ml"} and not called.cache
    assert called(4) == 8


def test_context_inject_params_and_run_overrides():
    ctx = context(lr=0.1, epochs=3)

    def train(lr, other=None):
        return lr

    assert ctx.inject_params(train) == {"lr": 0.1}
    assert ctx.lr == 0.1

    @step(outputs=["out"])
    def use(lr: float, epochs: int):
        return lr * epochs

    pipeline = Pipeline("ctx", context=ctx, enable_cache=False).add_step(use)
    assert pipeline.run()["out"] == pytest.approx(0.3)
    assert pipeline.run(context={"epochs": 10})["out"] == pytest.approx(1.0)


def test_inputs_given_to_run_feed_steps():
    @step(inputs=["raw"], outputs=["clean"])
    def clean(raw):
        return raw.strip()

    assert Pipeline("inputs").add_step(clean).run(inputs={"raw": "  x "})["clean"] == "x"


def test_multiple_outputs_from_tuple_and_dict():
    @step(outputs=["a", "b"])
    def pair():
        return 1, 2

    @step(inputs=["a", "b"], outputs=["c", "d"])
    def mapping(a, b):
        return {"c": a + b, "d": a - b}

    result = Pipeline("outs").add_step(pair).add_step(mapping).run()
    assert (result["a"], result["b"], result["c"], result["d"]) == (1, 2, 3, -1)


# -- DAG ---------------------------------------------------------------------------------------
def _steps(*specs):
    made = []
    for name, inputs, outputs in specs:
        made.append(Step(lambda **kw: None, name=name, inputs=inputs, outputs=outputs))
    return made


def test_dag_dependencies_and_topological_order():
    p = Pipeline("dag")
    for s in _steps(("c", ["a_out", "b_out"], ["c_out"]), ("a", [], ["a_out"]), ("b", ["a_out"], ["b_out"])):
        p.add_step(s)
    dag = p.build()
    assert dag.get_dependencies("c") == ["a", "b"]
    assert dag.get_dependencies("a") == []
    assert [s.name for s in dag.topological_sort()] == ["a", "b", "c"]
    assert p.dag is dag


def test_a_cycle_names_the_steps_in_it():
    p = Pipeline("cycle")
    for s in _steps(("x", ["z_out"], ["x_out"]), ("y", ["x_out"], ["y_out"]), ("z", ["y_out"], ["z_out"])):
        p.add_step(s)
    with pytest.raises(PipelineDefinitionError, match="cycle") as info:
        p.build()
    for name in ("x", "y", "z"):
        assert name in str(info.value)


def test_a_missing_input_names_the_step_the_input_and_what_exists():
    p = Pipeline("missing")
    for s in _steps(("load", [], ["dataset"]), ("train", ["datset"], ["model"])):
        p.add_step(s)
    with pytest.raises(PipelineDefinitionError) as info:
        p.build()
    msg = str(info.value)
    assert "'train'" in msg and "'datset'" in msg and "dataset" in msg


def test_duplicate_outputs_and_step_names_are_refused():
    p = Pipeline("dup")
    for s in _steps(("one", [], ["x"]), ("two", [], ["x"])):
        p.add_step(s)
    with pytest.raises(PipelineDefinitionError, match="'x' is produced by both 'one' and 'two'"):
        p.build()
    p2 = Pipeline("dup2")
    for s in _steps(("same", [], ["a"]), ("same", [], ["b"])):
        p2.add_step(s)
    with pytest.raises(PipelineDefinitionError, match="two steps are named 'same'"):
        p2.build()


def test_add_step_refuses_plain_functions():
    with pytest.raises(TypeError, match="@step"):
        Pipeline("x").add_step(lambda: 1)


# -- running -----------------------------------------------------------------------------------
def test_a_failure_stops_only_its_dependants_and_keeps_the_traceback():
    @step(outputs=["a"])
    def ok_branch():
        return 1

    @step(outputs=["b"])
    def broken():
        raise RuntimeError("bad data")

    @step(inputs=["b"], outputs=["c"])
    def after_broken(b):
        return b

    @step(inputs=["a"], outputs=["d"])
    def after_ok(a):
        return a + 1

    for workers in (1, 3):
        result = (
            Pipeline("fail", enable_cache=False)
            .add_step(ok_branch)
            .add_step(broken)
            .add_step(after_broken)
            .add_step(after_ok)
            .run(max_workers=workers)
        )
        assert not result.success and result.failed_steps == ["broken"]
        assert result["d"] == 2
        assert result.step_results["after_broken"].skipped
        err = result.step_results["broken"].error
        assert "RuntimeError: bad data" in err and "Traceback" in err and "in broken" in err


def test_parallel_runs_independent_steps_at_once_with_identical_outputs():
    barrier = threading.Barrier(4, timeout=10)

    def make(i):
        @step(name=f"branch{i}", outputs=[f"out{i}"])
        def branch():
            barrier.wait()  # only passes if all four run at the same time
            return i * i

        return branch

    @step(inputs=[f"out{i}" for i in range(4)], outputs=["total"])
    def join(out0, out1, out2, out3):
        return out0 + out1 + out2 + out3

    p = Pipeline("fan", enable_cache=False)
    for i in range(4):
        p.add_step(make(i))
    p.add_step(join)
    parallel = p.run(max_workers=4)
    assert parallel.success and parallel["total"] == 14


def test_parallel_and_sequential_give_the_same_outputs():
    @step(outputs=["xs"])
    def xs():
        return list(range(10))

    @step(inputs=["xs"], outputs=["sq"])
    def squares(xs):
        return [x * x for x in xs]

    @step(inputs=["xs"], outputs=["cubes"])
    def cubes(xs):
        return [x**3 for x in xs]

    @step(inputs=["sq", "cubes"], outputs=["both"])
    def both(sq, cubes):
        return list(zip(sq, cubes, strict=True))

    p = Pipeline("same", enable_cache=False).add_step(xs).add_step(squares).add_step(cubes).add_step(both)
    assert p.run(max_workers=1).outputs == p.run(max_workers=3).outputs


def test_a_false_condition_skips_the_step_and_its_dependants():
    @step(outputs=["metrics"])
    def evaluate():
        return {"accuracy": 0.5}

    @step(inputs=["metrics"], outputs=["registered"], condition=lambda accuracy, bar: accuracy > bar)
    def register(metrics):
        return True

    @step(inputs=["registered"], outputs=["deployed"])
    def deploy(registered):
        return True

    p = Pipeline("cond", context=context(bar=0.9), enable_cache=False)
    p.add_step(evaluate).add_step(register).add_step(deploy)
    result = p.run()
    assert result.success
    assert result.step_results["register"].skipped and result.step_results["deploy"].skipped
    assert p.run(context={"bar": 0.1})["deployed"] is True


def test_stop_execution_stops_the_run():
    from flowyml import StopExecution

    @step(outputs=["a"])
    def stopper():
        raise StopExecution("enough")

    @step(outputs=["b"])
    def other():
        return 1

    result = Pipeline("stop", enable_cache=False).add_step(stopper).add_step(other).run()
    assert result.stopped and not result.success
    assert result.step_results["stopper"].stopped
    assert "enough" in result.step_results["stopper"].error


def test_execution_status_flags():
    assert ExecutionStatus.COMPLETED.is_finished and ExecutionStatus.COMPLETED.is_successful
    assert ExecutionStatus.FAILED.is_finished and not ExecutionStatus.FAILED.is_successful
    assert ExecutionStatus.CANCELLED.is_finished and ExecutionStatus.TIMED_OUT.is_finished
    for s in ("PENDING", "QUEUED", "PROVISIONING", "RUNNING", "STOPPING", "UNKNOWN"):
        assert not ExecutionStatus(s).is_finished
    assert str(ExecutionStatus.RUNNING) == "ExecutionStatus.RUNNING"


def test_resource_config_merge_takes_the_larger_request():
    a = ResourceConfig(cpu="500m", memory="4Gi", gpu="nvidia-tesla-t4", gpu_count=1)
    b = ResourceConfig(cpu="2", memory="1Gi", disk="50Gi")
    merged = a.merge(b)
    assert merged == ResourceConfig(cpu="2", memory="4Gi", gpu="nvidia-tesla-t4", gpu_count=1, disk="50Gi")
    with pytest.raises(ValueError, match="gpu_count"):
        ResourceConfig(gpu_count=-1)
