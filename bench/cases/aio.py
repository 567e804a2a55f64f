"""Async execution (issue 6): async fan-out against the critical path; loop lag while watching many runs."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from pathlib import Path
from typing import Any

from bench.model import CaseResult, Row, median, percentile, skipped, summary
from bench.proc import REPO_ROOT, isolated_home
from bench.settings import Settings
from bench.workloads import fanout_pipeline

TITLE = (
    "Async: fan-out of async steps; event-loop lag while one loop monitors many local-backend runs; "
    "PipelineRunner overhead per firing"
)
PROBE_INTERVAL = 0.01
MAX_HOLD = 900.0  # seconds: upper bound on start-up and on each run's step


def available() -> str | None:
    if importlib.util.find_spec("flowyml.aio") is None:
        return "flowyml.aio missing"
    from flowyml import Pipeline
    from flowyml.orchestrators import RemoteOrchestrator, SubmissionResult

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


def _lag_stats(lags: list[float]) -> dict[str, float]:
    if not lags:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0, "samples": 0}
    return {
        "p50": round(percentile(lags, 50), 2),
        "p99": round(percentile(lags, 99), 2),
        "max": round(max(lags), 2),
        "samples": len(lags),
    }


async def _monitor(count: int, window: float, home: Path) -> dict[str, Any]:
    """One loop submits ``count`` local runs and awaits them all, with a lag probe throughout.

    Phases: submit (every ``run_pipeline_async`` returned); start-up (until every run's step is
    running: 2 processes per run start here); steady (``window`` seconds with all runs running
    and polled); completion (the steps are released and every ``wait_async`` returns).
    """
    from bench.workloads import first_step
    from flowyml.orchestrators import RemoteOrchestrator

    orchestrator = RemoteOrchestrator.for_backend("local", {"workdir": str(REPO_ROOT), "grace_period": 2.0})
    markers, release = home / "markers", home / "release"
    markers.mkdir()
    loop = asyncio.get_running_loop()
    probe = LagProbe()
    probe.start()
    marks = [loop.time()]
    subs = await asyncio.gather(
        *(
            orchestrator.run_pipeline_async(
                first_step, context={"marker": str(markers / f"r{i}"), "hold": MAX_HOLD, "release": str(release)}
            )
            for i in range(count)
        )
    )
    marks.append(loop.time())
    waits = [
        asyncio.ensure_future(s.wait_async(timeout=MAX_HOLD, poll_interval=1.0, raise_on_failure=False)) for s in subs
    ]
    try:
        while len(os.listdir(markers)) < count:
            if loop.time() - marks[-1] > MAX_HOLD:
                raise TimeoutError(f"only {len(os.listdir(markers))} of {count} runs started")
            await asyncio.sleep(0.1)
        marks.append(loop.time())
        await asyncio.sleep(window)
        marks.append(loop.time())
        release.touch()
        finals = await asyncio.gather(*waits)
        marks.append(loop.time())
    except BaseException:
        release.touch()
        for w in waits:
            w.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        raise
    finally:
        await probe.stop()
    names = ("submit", "startup", "steady", "completion")
    return {
        "runs": count,
        "completed": sum(1 for f in finals if f.name == "COMPLETED"),
        "phase_s": {name: round(marks[i + 1] - marks[i], 2) for i, name in enumerate(names)},
        "lag_ms": {name: _lag_stats(probe.lags_ms(marks[i], marks[i + 1])) for i, name in enumerate(names)},
        "lag_ms_all": _lag_stats(probe.lags_ms()),
    }


async def _noop() -> None:
    return None


async def _runner_burst(firings: int) -> float:
    """Seconds from the first of ``firings`` ExternalTrigger firings to the last outcome read."""
    from flowyml.aio import ExternalTrigger, PipelineRunner, RunnerConfig

    trigger = ExternalTrigger("bench")
    config = RunnerConfig(
        max_concurrent_runs=firings, overlap="allow", result_queue_size=firings, trigger_poll_interval=60.0
    )
    runner = PipelineRunner(config)
    runner.add(_noop, triggers=[trigger], name="noop")
    await runner.start()
    await asyncio.sleep(0)  # the trigger's poll task is waiting
    start = time.perf_counter()
    for _ in range(firings):
        trigger.fire()
    read = 0
    async for _ in runner.iter_results(timeout=MAX_HOLD):
        read += 1
        if read == firings:
            break
    wall = time.perf_counter() - start
    await runner.stop()
    if runner.get_stats().succeeded != firings:
        raise RuntimeError(f"runner burst: {runner.get_stats()!r}")
    return wall


async def _runner_latency(firings: int) -> list[float]:
    """Seconds from ``fire()`` to the outcome, one firing at a time."""
    from flowyml.aio import ExternalTrigger, PipelineRunner, RunnerConfig

    trigger = ExternalTrigger("bench")
    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=60.0))
    runner.add(_noop, triggers=[trigger], name="noop")
    await runner.start()
    await asyncio.sleep(0)
    results = runner.iter_results(timeout=MAX_HOLD)
    latencies = []
    for _ in range(firings):
        start = time.perf_counter()
        trigger.fire()
        await results.__anext__()
        latencies.append(time.perf_counter() - start)
    await runner.stop()
    return latencies


async def _direct_jobs(count: int) -> float:
    """The same no-op jobs through ``execute_job`` alone: what the runner builds on."""
    from flowyml.aio import ExecutionContext, as_job, execute_job

    context = ExecutionContext.create(max_concurrency=count)
    job = as_job(_noop, name="noop")
    start = time.perf_counter()
    await asyncio.gather(*(execute_job(job, context, i) for i in range(count)))
    return time.perf_counter() - start


def _runner_row(result: CaseResult, firings: int) -> Row:
    bursts = [asyncio.run(_runner_burst(firings)) for _ in range(3)]
    direct = [asyncio.run(_direct_jobs(firings)) for _ in range(3)]
    latencies = [lat * 1e6 for lat in asyncio.run(_runner_latency(min(firings, 500)))]
    per_firing = median(bursts) / firings * 1e6
    per_job = median(direct) / firings * 1e6
    result.details["runner"] = {
        "firings": firings,
        "burst_wall_s": summary(bursts, 1, 4),
        "execute_job_wall_s": summary(direct, 1, 4),
        "fire_to_outcome_us": {
            "p50": round(percentile(latencies, 50), 1),
            "p99": round(percentile(latencies, 99), 1),
            "samples": len(latencies),
        },
    }
    return Row.of(
        "runner_overhead_per_firing",
        f"PipelineRunner cost per firing: {firings} ExternalTrigger firings of a no-op job, fire to outcome read",
        round(per_firing, 1),
        "µs",
        f"of which execute_job {per_job:.1f} µs; one firing at a time, fire() to outcome p50 "
        f"{percentile(latencies, 50):.0f} µs, p99 {percentile(latencies, 99):.0f} µs (median of 3 bursts)",
    )


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
    runner_row = _runner_row(result, settings.runner_firings)  # before the 200 runs load the machine
    with isolated_home() as home:
        monitor = asyncio.run(_monitor(settings.monitor_runs, settings.monitor_window, home))
    result.details["monitor"] = monitor
    lag, phases = monitor["lag_ms"], monitor["phase_s"]
    others = "; ".join(
        f"{name} ({phases[name]} s) p99 {lag[name]['p99']} ms" for name in ("submit", "startup", "completion")
    )
    result.rows.append(
        Row.of(
            "loop_lag_p99",
            f"event-loop lag p99, one loop polling {settings.monitor_runs} running local-backend runs",
            lag["steady"]["p99"],
            "ms",
            f"steady {phases['steady']} s, max {lag['steady']['max']} ms, "
            f"{monitor['completed']}/{monitor['runs']} completed (wait_async, poll_interval=1 s). "
            f"Other phases: {others}",
        )
    )
    result.rows.append(runner_row)
    return result
