"""Pipelines the Ray end-to-end tests submit (imported by the step-runner on the cluster's nodes)."""

from __future__ import annotations

import os
import time

from flowyml.core.context import context
from flowyml.core.pipeline import Pipeline
from flowyml.core.step import step


def _work(index: int):  # type: ignore[no-untyped-def]
    @step(outputs=[f"part{index}"], name=f"work{index}", resources={"cpu": "1"})
    def work(seconds: float = 2.0) -> dict:
        started = time.time()
        print(f"work{index} sleeping {seconds}s on pid {os.getpid()}", flush=True)
        time.sleep(seconds)
        return {"index": index, "started": started, "finished": time.time()}

    return work


WORKERS = [_work(i) for i in range(4)]


@step(inputs=[f"part{i}" for i in range(4)], outputs=["parts"], resources={"cpu": "500m", "memory": "64Mi"})
def gather(part0: dict, part1: dict, part2: dict, part3: dict) -> list[int]:
    print("gathering 4 parts", flush=True)
    return sorted(p["index"] for p in (part0, part1, part2, part3))


#: Four independent 2 s units, then one that needs them all (the critical path: 2 s + gather).
fan_out = Pipeline("ray-fan-out", context=context(seconds=2.0), enable_cache=False)
for _step in WORKERS:
    fan_out.add_step(_step)
fan_out.add_step(gather)


@step(outputs=["ok"])
def fine() -> str:
    print("this unit is fine", flush=True)
    return "ok"


@step(inputs=["ok"], outputs=["never"])
def broken(ok: str) -> None:
    raise RuntimeError(f"ray e2e: the step broke after {ok}")


@step(inputs=["never"], outputs=["after"])
def after(never: None) -> str:
    return "unreachable"


#: fine -> broken (fails) -> after (never runs: CANCELLED)
failing_chain = Pipeline("ray-failing-chain", enable_cache=False).add_step(fine).add_step(broken).add_step(after)


@step(outputs=["slept"])
def nap(seconds: float = 120.0) -> float:
    marker = os.environ.get("RAY_E2E_MARKER_DIR")
    if marker:
        with open(os.path.join(marker, f"pid-{os.getpid()}"), "w") as f:
            f.write(str(os.getpid()))
    print("napping", flush=True)
    time.sleep(seconds)
    return seconds


long_nap = Pipeline("ray-long-nap", context=context(seconds=120.0), enable_cache=False).add_step(nap)
