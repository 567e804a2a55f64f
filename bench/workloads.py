"""The pipelines the benchmark runs, in one importable module.

Local-backend runs import this module in their step-runner subprocesses, so the pipelines they
submit are module-level globals here; the chains and fan-outs are built on demand.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from flowyml import Pipeline, context, step
from flowyml.core.step import Step


def chain_functions(n: int) -> list[Callable[[int], int]]:
    """``s1(v0) ... sN(v{N-1})``, each returning its input + 1; the parameter name is the wiring."""
    namespace: dict[str, Any] = {}
    source = "\n".join(f"def s{i}(v{i - 1}):\n    return v{i - 1} + 1\n" for i in range(1, n + 1))
    exec(source, namespace)
    return [namespace[f"s{i}"] for i in range(1, n + 1)]


def chain_steps(functions: list[Callable[[int], int]]) -> list[Step]:
    """The same functions as steps (default options): step i reads ``v{i-1}`` and writes ``v{i}``."""
    return [step(inputs=[f"v{i}"], outputs=[f"v{i + 1}"])(fn) for i, fn in enumerate(functions)]


def plain_chain(functions: list[Callable[[int], int]]) -> int:
    """The floor: a Python loop calling the same functions."""
    x = 0
    for fn in functions:
        x = fn(x)
    return x


def run_chain(steps: list[Step]) -> int:
    """Build a pipeline of ``steps`` (cache off) and run it in-process; returns the last value."""
    pipeline = Pipeline("bench-linear", enable_cache=False)
    for s in steps:
        pipeline.add_step(s)
    result = pipeline.run(inputs={"v0": 0})
    if not result.success:
        raise RuntimeError(f"linear pipeline failed: {result.error}")
    return result[f"v{len(steps)}"]


def fanout_pipeline(width: int, seconds: float, use_async: bool = False) -> Pipeline:
    """``width`` independent steps sleeping ``seconds`` (time.sleep, or asyncio.sleep), then a join."""
    pipeline = Pipeline(f"bench-fanout-{'async' if use_async else 'threads'}", enable_cache=False)
    for i in range(width):
        pipeline.add_step(step(name=f"w{i}", outputs=[f"o{i}"])(_sleeper(i, seconds, use_async)))

    def join(**outputs: int) -> int:
        return sum(outputs.values())

    pipeline.add_step(step(name="join", inputs=[f"o{i}" for i in range(width)], outputs=["total"])(join))
    return pipeline


def _sleeper(i: int, seconds: float, use_async: bool) -> Callable[[], Any]:
    if use_async:
        import asyncio  # here, not at the top: local-backend step-runners import this module

        async def work_async() -> int:
            await asyncio.sleep(seconds)
            return i

        return work_async

    def work() -> int:
        time.sleep(seconds)
        return i

    return work


# -- pipelines submitted to the local backend (imported by the step-runner) ------------------------
@step(outputs=["started"])
def mark_start(marker: str = "", hold: float = 0.0, release: str = "") -> float:
    """Record when the body began (the end of submit -> running), then hold until ``release`` exists.

    ``hold`` bounds the wait (seconds); without ``release`` the step simply sleeps ``hold``.
    """
    now = time.time()
    if marker:
        with open(marker, "w", encoding="utf-8") as fh:
            fh.write(repr(now))
    deadline = now + hold
    while time.time() < deadline:
        if release and os.path.exists(release):
            break
        time.sleep(min(0.2, max(0.0, deadline - time.time())))
    return now


first_step = Pipeline("bench-first-step", context=context(marker="", hold=0.0, release=""), enable_cache=False)
first_step.add_step(mark_start)

#: units in the local-backend chain (issue 14: per-unit cost of the remote path)
CHAIN_UNITS = 20


def unit_chain(n: int = CHAIN_UNITS) -> Pipeline:
    """``n`` trivial steps in a line, each its own execution unit on a remote backend."""
    pipeline = Pipeline(f"bench-unit-chain-{n}", enable_cache=False)
    for s in chain_steps(chain_functions(n)):
        pipeline.add_step(s)
    return pipeline


chain_of_units = unit_chain()
short_chain_of_units = unit_chain(3)  # the smoke run's


def linear_child(n: int, warm_reps: int) -> dict[str, Any]:
    """One repetition of the per-step case, as the peers measured theirs (a fresh process each).

    ``flowyml_s`` times making the steps, building the pipeline and running it once (``flowyml_cpu_s``:
    the same in CPU time, which other load on the machine disturbs less); ``plain_s`` is
    the best of a few loops over the same functions; ``warm_s`` re-runs the same pipeline.
    """
    functions = chain_functions(n)
    start, cpu_start = time.perf_counter(), time.process_time()
    steps = chain_steps(functions)
    value = run_chain(steps)
    flowyml_s, flowyml_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    plain = []
    for _ in range(5):
        start = time.perf_counter()
        plain_value = plain_chain(functions)
        plain.append(time.perf_counter() - start)
    warm = []
    for _ in range(warm_reps):
        start = time.perf_counter()
        run_chain(steps)
        warm.append(time.perf_counter() - start)
    if value != n or plain_value != n:
        raise SystemExit(f"wrong result {value}/{plain_value}, expected {n}")
    return {"n": n, "flowyml_s": flowyml_s, "flowyml_cpu_s": flowyml_cpu_s, "plain_s": min(plain), "warm_s": warm}


def rss_child(n: int) -> dict[str, Any]:
    """The peak-RSS subprocess: import, build and run an ``n``-step chain once."""
    value = run_chain(chain_steps(chain_functions(n)))
    if value != n:
        raise SystemExit(f"wrong result {value}, expected {n}")
    from bench.proc import vm_hwm_mb

    return {"n": n, "value": value, "pid": os.getpid(), "peak_rss_mb": vm_hwm_mb()}


def main(argv: list[str]) -> int:
    """``python -m bench.workloads linear N WARM_REPS`` | ``rss N``: print one JSON result line."""
    import json

    what, n = argv[0], int(argv[1])
    doc = linear_child(n, int(argv[2])) if what == "linear" else rss_child(n)
    sys.stdout.write(json.dumps(doc) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
