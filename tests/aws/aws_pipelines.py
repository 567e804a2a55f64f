"""Pipelines the AWS tests submit (imported by the step-runner subprocesses the fake starts)."""

from __future__ import annotations

from flowyml import Pipeline, ResourceConfig, context, step


@step(outputs=["base"], resources=ResourceConfig(cpu="2", memory="4Gi"))
def load(n: int = 4) -> list[int]:
    print(f"loading {n} rows", flush=True)
    return list(range(1, n + 1))


@step(
    inputs=["base"],
    outputs=["left"],
    resources=ResourceConfig(cpu="1", memory="2Gi", gpu_count=1, machine_type="ml.g5.xlarge"),
)
def double(base: list[int]) -> list[int]:
    print("doubling", flush=True)
    return [2 * x for x in base]


@step(inputs=["base"], outputs=["right"])
def square(base: list[int]) -> list[int]:
    print("squaring", flush=True)
    return [x * x for x in base]


@step(inputs=["left", "right"], outputs=["result"])
def combine(left: list[int], right: list[int]) -> int:
    print("combining", flush=True)
    return sum(left) + sum(right)


#: a diamond: load -> (double, square) -> combine.  result = 2*sum(1..n) + sum(i^2)
diamond = Pipeline("aws-diamond", context=context(n=4), enable_cache=False)
diamond.add_step(load).add_step(double).add_step(square).add_step(combine)


@step(outputs=["value"])
def broken() -> int:
    raise RuntimeError("broken on purpose")


@step(inputs=["value"], outputs=["after"])
def after(value: int) -> int:
    return value


failing_chain = Pipeline("aws-failing-chain", enable_cache=False).add_step(broken).add_step(after)


def _producer(i: int):  # type: ignore[no-untyped-def]
    def produce() -> int:
        return i

    return step(name=f"part{i}", outputs=[f"v{i}"])(produce)


WIDE = 21  # one more upstream unit than AWS Batch's 20 dependsOn entries


def gather(**values: int) -> int:
    print(f"gathering {len(values)} values", flush=True)
    return sum(values.values())


#: 21 independent units feeding one: the sink waits on 21 upstream units.  result = sum(0..20)
wide = Pipeline("aws-wide", enable_cache=False)
for _i in range(WIDE):
    wide.add_step(_producer(_i))
wide.add_step(step(name="gather", inputs=[f"v{i}" for i in range(WIDE)], outputs=["total"])(gather))
