"""Async execution (issue 6): async fan-out against the critical path; loop lag while watching many runs."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from typing import Any

from bench.model import CaseResult, Row, median, percentile, skipped, summary
from bench.proc import REPO_ROOT, isolated_home
from bench.settings import Settings
from bench.workloads import fanout_pipeline

TITLE = "Async: fan-out of async steps; event-loop lag while one loop monitors many local-backend runs"
PROBE_INTERVAL = 0.01


def available() -> str | None:
    if importlib.util.find_spec("flowyml.aio") is None:
        return "flowyml.aio missing"
    from flowyml import Pipeline
    from flowyml.orchestrators.base import RemoteOrchestrator, SubmissionResult

    for owner, name in (
        (Pipeline, "run_async"),
        (RemoteOrchestrator, "run_pipeline_async"),
        (SubmissionResult, "wait_async"),
    ):
        if not hasattr(owner, name):
            return f"{owner.__name__}.{name} missing"
    return None


class LagProbe:
    """Sleeps ``interval`` again and again on the loop and records how late each wake-up was."""

    def __init__(self, interval: float = PROBE_INTERVAL) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (when, lag seconds)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.interval)
            now = loop.time()
            self.samples.append((now, now - start - self.interval))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    def lags_ms(self, start: float = float("-inf"), end: float = float("inf")) -> list[float]:
        return [lag * 1000 for when, lag in self.samples if start <= when <= end]


async def _async_fanout(width: int, sleep: float) -> float:
    start = time.perf_counter()
    pipeline = fanout_pipeline(width, sleep, use_async=True)
    outcome = await pipeline.run_async()
    wall = time.perf_counter() - start
    if not outcome.success or outcome["total"] != sum(range(width)):
        raise RuntimeError(f"async fan-out failed or computed the wrong total: {outcome!r}")
    return wall


async def _monitor(count: int, hold: float) -> dict[str, Any]:
    """Submit ``count`` local runs from the loop, then await them all; lag per phase."""
    from bench.workloads import first_step
    from flowyml.orchestrators.base import RemoteOrchestrator

    orchestrator = RemoteOrchestrator.for_backend("local", {"workdir": str(REPO_ROOT), "grace_period": 2.0})
    loop = asyncio.get_running_loop()
    probe = LagProbe()
    probe.start()
    t0 = loop.time()
    subs = await asyncio.gather(
        *(orchestrator.run_pipeline_async(first_step, context={"hold": hold}) for _ in range(count))
    )
    t1 = loop.time()
    try:
        finals = await asyncio.gather(
            *(s.wait_async(timeout=600, poll_interval=1.0, raise_on_failure=False) for s in subs)
        )
    except BaseException:
        await asyncio.gather(*(orchestrator.stop_run_async(s.run_id) for s in subs), return_exceptions=True)
        raise
    t2 = loop.time()
    await probe.stop()
    monitoring = probe.lags_ms(t1, t2)
    everything = probe.lags_ms()
    return {
        "runs": count,
        "completed": sum(1 for f in finals if f.value == "COMPLETED"),
        "submit_phase_s": round(t1 - t0, 3),
        "monitor_phase_s": round(t2 - t1, 3),
        "lag_ms_monitor": {
            "p50": round(percentile(monitoring, 50), 2),
            "p99": round(percentile(monitoring, 99), 2),
            "max": round(max(monitoring), 2),
            "samples": len(monitoring),
        },
        "lag_ms_whole": {
            "p50": round(percentile(everything, 50), 2),
            "p99": round(percentile(everything, 99), 2),
            "max": round(max(everything), 2),
            "samples": len(everything),
        },
    }


def run(settings: Settings) -> CaseResult:
    missing = available()
    if missing:
        return skipped("aio", TITLE, missing)
    result = CaseResult("aio", TITLE)
    width, sleep = settings.async_width, settings.async_sleep
    walls = [asyncio.run(_async_fanout(width, sleep)) for _ in range(settings.async_reps)]
    wall = median(walls)
    result.details["async_fanout_wall_s"] = summary(walls, 1, 4)
    result.rows.append(
        Row.of(
            "async_fanout_ratio",
            f"`await run_async()` of {width}x `asyncio.sleep({sleep:g})` steps + a join vs the critical path",
            round(wall / sleep, 3),
            "x",
            f"{wall:.3f} s (median of {settings.async_reps}; build + run)",
        )
    )
    with isolated_home():
        monitor = asyncio.run(_monitor(settings.monitor_runs, settings.monitor_hold))
    result.details["monitor"] = monitor
    lag = monitor["lag_ms_monitor"]
    result.rows.append(
        Row.of(
            "loop_lag_p99",
            f"event-loop lag p99 while one loop awaits {settings.monitor_runs} concurrent local-backend runs",
            lag["p99"],
            "ms",
            f"p50 {lag['p50']} ms, max {lag['max']} ms over {monitor['monitor_phase_s']} s "
            f"({monitor['completed']}/{monitor['runs']} completed; each step holds {settings.monitor_hold:g} s; "
            f"wait_async poll_interval=1 s); including the {monitor['submit_phase_s']} s submit phase: "
            f"p99 {monitor['lag_ms_whole']['p99']} ms",
        )
    )
    return result
