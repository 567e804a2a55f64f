"""Pipelines the Ray end-to-end tests submit (imported by the step-runner on the cluster's nodes)."""

from __future__ import annotations

import os
import time

from flowyml.core.context import context
from flowyml.core.pipeline import Pipeline
from flowyml.core.step import step

WIDTH = 4


def _barrier(name: str, timeout: float = 120.0) -> None:
    """With ``RAY_E2E_MARKER_DIR`` set: wait until all WIDTH workers of this run have started.

    Only units that run at the same time get past it, so a run that completes proves they did.
    """
    directory = os.environ.get("RAY_E2E_MARKER_DIR")
    if not directory:
        return
    run = os.environ["FLOWYML_RUN_ID"]
    with open(os.path.join(directory, f"{run}.{name}"), "w") as f:
        f.write(str(os.getpid()))
    deadline = time.time() + timeout
    while len([n for n in os.listdir(directory) if n.startswith(f"{run}.work")]) < WIDTH:
        if time.time() > deadline:
            raise RuntimeError(f"{name}: the other units of {run} did not start while it ran")
        time.sleep(0.05)


def _work(index: int):  # type: ignore[no-untyped-def]
    @step(outputs=[f"part{index}"], name=f"work{index}", resources={"cpu": "1"})
    def work(seconds: float = 2.0) -> dict:
        started = time.time()
        print(f"work{index} sleeping {seconds}s on pid {os.getpid()}", flush=True)
        _barrier(f"work{index}")
        time.sleep(seconds)
        return {"index": index, "started": started, "finished": time.time()}

    return work


WORKERS = [_work(i) for i in range(WIDTH)]


@step(inputs=[f"part{i}" for i in range(4)], outputs=["parts"], resources={"cpu": "500m", "memory": "64Mi"})
def gather(part0: dict, part1: dict, part2: dict, part3: dict) -> list[int]:
    print("gathering 4 parts", flush=True)
    return sorted(p["index"] for p in (part0, part1, part2, part3))


#: Four independent 2 s units that wait for each other to start, then one that needs them all.
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


@step(outputs=["t4"], resources={"gpu": "nvidia-tesla-t4", "gpu_count": 1, "cpu": "250m"})
def on_t4() -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "")


@step(outputs=["accel"], resources={"gpu": "test-accel", "gpu_count": 1, "memory": "32Mi"})
def on_accelerator() -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "")


#: two GPU units: an accelerator type Ray knows (T4) and one a stack maps to a custom resource
gpu_units = Pipeline("ray-gpu-units", enable_cache=False).add_step(on_t4).add_step(on_accelerator)


@step(outputs=["crashed"])
def kill_my_worker() -> None:
    import signal

    os.kill(os.getppid(), signal.SIGKILL)  # the parent is the Ray worker running this unit's task
    time.sleep(30)


@step(inputs=["crashed"], outputs=["after_crash"])
def after_the_crash(crashed: None) -> str:
    return "unreachable"


#: the unit's Ray worker dies under it (as when a node is lost): FAILED, and what depends on it CANCELLED
worker_crash = Pipeline("ray-worker-crash", enable_cache=False).add_step(kill_my_worker).add_step(after_the_crash)


@step(outputs=["dash"], name="-")
def dash(seconds: float = 0.1) -> str:
    print("unit dash here", flush=True)
    time.sleep(seconds)
    return "-"


@step(outputs=["umlaut"], name="ünït")
def umlaut() -> str:
    print("unit ünït here", flush=True)
    return "ü"


@step(inputs=["dash", "umlaut"], outputs=["joined"])
def join(dash: str, umlaut: str) -> str:
    return f"{dash}+{umlaut}"


#: units named ``-`` (what the driver's own log lines once used as their tag) and ``ünït``, then one joining them
odd_names = Pipeline("ray-odd-names", context=context(seconds=0.1), enable_cache=False)
odd_names.add_step(dash).add_step(umlaut).add_step(join)
