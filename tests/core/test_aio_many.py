"""Running many: run_many, strategies, the execution context, RunPool, decorators, sync adapters."""

from __future__ import annotations

import asyncio
import functools
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import flowyml.aio
from flowyml import Pipeline, step
from flowyml.aio import (
    ConcurrentStrategy,
    ExecutionContext,
    RunPool,
    SequentialStrategy,
    StagedStrategy,
    as_job,
    to_async,
    with_retry,
    with_semaphore,
    with_timeout,
)
from flowyml.core.status import ExecutionStatus
from flowyml.stacks.local import LocalOrchestrator
from flowyml.testing import pipelines

S = ExecutionStatus


def aio(fn):
    """Run an ``async def`` test on a fresh event loop (no pytest-asyncio needed)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return run


class Gauge:
    """Counts coroutines inside it at once, and remembers when each started and ended."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.spans: dict[str, tuple[float, float]] = {}

    def job(self, name: str, seconds: float, fail: bool = False):
        async def run() -> str:
            self.now += 1
            self.peak = max(self.peak, self.now)
            start = time.monotonic()
            try:
                await asyncio.sleep(seconds)
                if fail:
                    raise ValueError(f"{name} failed")
                return name
            finally:
                self.now -= 1
                self.spans[name] = (start, time.monotonic())

        run.__qualname__ = name
        return run


# -- run_many ------------------------------------------------------------------------------------
@aio
async def test_run_many_limits_concurrency_and_keeps_input_order():
    g = Gauge()
    outcomes = await flowyml.aio.run_many([g.job(f"j{i}", 0.05) for i in range(10)], max_concurrency=3)
    assert [o.value for o in outcomes] == [f"j{i}" for i in range(10)]
    assert all(o.status is S.COMPLETED and o.ok and o.attempts == 1 for o in outcomes)
    assert g.peak == 3


@aio
async def test_timeout_reports_timed_out_never_failed():
    g = Gauge()
    outcomes = await flowyml.aio.run_many([g.job("fast", 0.01), g.job("slow", 5)], timeout=0.1)
    assert [o.status for o in outcomes] == [S.COMPLETED, S.TIMED_OUT]
    assert isinstance(outcomes[1].error, TimeoutError) and "timed out after 0.1s" in str(outcomes[1].error)
    assert outcomes[1].attempts == 1  # timeouts are not retried unless asked


@aio
async def test_retries_back_off_exponentially():
    stamps: list[float] = []

    async def flaky() -> str:
        stamps.append(time.monotonic())
        if len(stamps) < 4:
            raise ConnectionError("try again")
        return "ok"

    [outcome] = await flowyml.aio.run_many([flaky], retries=3, retry_delay=0.05, backoff=2.0)
    assert outcome.ok and outcome.value == "ok" and outcome.attempts == 4
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2

    async def always_fails() -> None:
        raise KeyError("nope")

    [failed] = await flowyml.aio.run_many([always_fails], retries=2, retry_delay=0.01)
    assert failed.status is S.FAILED and failed.attempts == 3 and isinstance(failed.error, KeyError)
    with pytest.raises(KeyError):
        failed.unwrap()


@aio
async def test_only_matching_errors_are_retried():
    calls = {"n": 0}

    async def bad_input() -> None:
        calls["n"] += 1
        raise ValueError("not transient")

    ctx = ExecutionContext(retries=3, retry_delay=0.01, retry_on=(ConnectionError,))
    [o] = await flowyml.aio.run_many([bad_input], context=ctx)
    assert o.status is S.FAILED and calls["n"] == 1


@aio
async def test_run_many_raise_on_error_and_callbacks():
    g = Gauge()
    seen: list[str] = []
    with pytest.raises(flowyml.aio.BatchFailedError) as info:
        await flowyml.aio.run_many(
            [g.job("a", 0.01), g.job("b", 0.01, fail=True)],
            raise_on_error=True,
            on_result=lambda o: seen.append(o.name),
        )
    assert [o.status for o in info.value.outcomes] == [S.COMPLETED, S.FAILED]
    assert "b (FAILED)" in str(info.value) and seen == ["a", "b"]


@aio
async def test_pipelines_sync_callables_and_awaitables_together():
    @step(outputs=["x"])
    async def good() -> int:
        return 1

    @step(outputs=["y"])
    def bad() -> int:
        raise RuntimeError("step broke")

    ok_pipe = Pipeline("ok", steps=[good], enable_cache=False)
    bad_pipe = Pipeline("bad", steps=[bad], enable_cache=False)
    outcomes = await flowyml.aio.run_many([ok_pipe, bad_pipe, lambda: 3 * 7, asyncio.sleep(0.01, "slept")])
    assert [o.status for o in outcomes] == [S.COMPLETED, S.FAILED, S.COMPLETED, S.COMPLETED]
    assert outcomes[0].value["x"] == 1 and outcomes[0].name == "ok"
    assert not outcomes[1].value.success and "step broke" in str(outcomes[1].error)  # the result is kept
    assert outcomes[2].value == 21 and outcomes[3].value == "slept"
    with pytest.raises(TypeError, match="cannot run"):
        as_job(42)


@aio
async def test_remote_runs_on_the_local_backend_in_a_batch():
    orch = LocalOrchestrator(grace_period=1.0)
    slow = flowyml.aio.remote(orch, pipelines.slow, run_id="many-slow", poll_interval=0.1)
    slow.timeout = 1.5  # a per-job timeout, tighter than the batch's
    outcomes = await flowyml.aio.run_many(
        [
            flowyml.aio.remote(orch, pipelines.two_units, run_id="many-ok", poll_interval=0.1),
            flowyml.aio.remote(orch, pipelines.failing, run_id="many-bad", poll_interval=0.1),
            slow,
        ],
        timeout=60,
    )
    assert [o.status for o in outcomes] == [S.COMPLETED, S.FAILED, S.TIMED_OUT]
    assert await asyncio.to_thread(outcomes[0].value.get_output, "total") == 30
    assert "boom from the flowyml conformance kit" in str(outcomes[1].error)
    # the timed-out job's remote run was cancelled, not left running
    assert await orch.get_run_status_async("many-slow") is S.CANCELLED


@aio
async def test_results_arrive_as_jobs_complete():
    g = Gauge()
    seen: list[str] = []
    jobs = [g.job("slow", 0.3), g.job("quick", 0.02), g.job("middle", 0.12)]
    outcomes = await flowyml.aio.run_many(jobs, on_result=lambda o: seen.append(o.name))
    assert [o.name for o in outcomes] == ["slow", "quick", "middle"]  # input order
    assert seen == ["quick", "middle", "slow"]  # the callback sees each as it ends

    streamed = [o.name async for o in flowyml.aio.iter_many([g.job("s", 0.2), g.job("q", 0.02), g.job("m", 0.1)])]
    assert streamed == ["q", "m", "s"]


@aio
async def test_leaving_iter_many_early_cancels_the_rest():
    g = Gauge()
    stream = flowyml.aio.iter_many([g.job("first", 0.01), g.job("never-ends", 30)])
    async for outcome in stream:
        assert outcome.name == "first"
        break
    await stream.aclose()
    assert g.now == 0 and "never-ends" in g.spans  # it was cancelled, and its finally ran


# -- strategies -------------------------------------------------------------------------------------
@aio
async def test_sequential_stops_on_first_error_when_asked():
    g = Gauge()
    jobs = [as_job(g.job("a", 0.01)), as_job(g.job("b", 0.01, fail=True)), as_job(g.job("c", 0.01))]
    outcomes = await SequentialStrategy(stop_on_first_error=True).execute(jobs)
    assert [o.status for o in outcomes] == [S.COMPLETED, S.FAILED, S.CANCELLED]
    assert outcomes[2].skipped and "c" not in g.spans and g.peak == 1
    keep_going = await SequentialStrategy().execute([as_job(g.job(n, 0.01, fail=n == "x")) for n in "xyz"])
    assert [o.status for o in keep_going] == [S.FAILED, S.COMPLETED, S.COMPLETED]


@aio
async def test_concurrent_stop_on_first_error_cancels_the_rest():
    g = Gauge()
    jobs = [as_job(g.job("fails", 0.05, fail=True)), as_job(g.job("long", 5)), as_job(g.job("longer", 5))]
    started = time.monotonic()
    outcomes = await ConcurrentStrategy(max_concurrency=5).execute(jobs, ExecutionContext(stop_on_first_error=True))
    assert time.monotonic() - started < 1
    assert [o.status for o in outcomes] == [S.FAILED, S.CANCELLED, S.CANCELLED]


@aio
async def test_staged_runs_stages_in_order_and_jobs_of_a_stage_together():
    g = Gauge()
    jobs = [as_job(g.job(f"j{i}", 0.1)) for i in range(5)]
    outcomes = await StagedStrategy([[0, 1], [2], [3, 4]]).execute(jobs)
    assert [o.value for o in outcomes] == [f"j{i}" for i in range(5)]
    s = g.spans
    assert max(s["j0"][1], s["j1"][1]) <= s["j2"][0] and s["j2"][1] <= min(s["j3"][0], s["j4"][0])
    assert abs(s["j0"][0] - s["j1"][0]) < 0.08 and abs(s["j3"][0] - s["j4"][0]) < 0.08  # together
    with pytest.raises(ValueError, match="exactly once"):
        await StagedStrategy([[0], [0, 1]]).execute(jobs[:2])


@aio
async def test_staged_skips_later_stages_after_a_failure_when_asked():
    g = Gauge()
    jobs = [as_job(g.job("a", 0.01, fail=True)), as_job(g.job("b", 0.01)), as_job(g.job("c", 0.01))]
    outcomes = await StagedStrategy([[0, 1], [2]], stop_on_first_error=True).execute(jobs)
    assert outcomes[0].status is S.FAILED and outcomes[2].skipped
    outcomes = await flowyml.aio.run_many(
        [g.job("p", 0.01), g.job("q", 0.01)], strategy=StagedStrategy([[1], [0]]), max_concurrency=1
    )
    assert g.spans["q"][1] <= g.spans["p"][0]


# -- execution context and sync adapters -----------------------------------------------------------------
@aio
async def test_context_executor_runs_sync_callables_and_is_shut_down():
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="custom-pool")
    where: list[str] = []

    def blocking(i: int) -> int:
        where.append(threading.current_thread().name)
        time.sleep(0.05)
        return i

    async with ExecutionContext(executor=pool, timeout=5) as ctx:
        outcomes = await flowyml.aio.run_many([functools.partial(blocking, i) for i in range(4)], context=ctx)
    assert [o.value for o in outcomes] == [0, 1, 2, 3]
    assert all(name.startswith("custom-pool") for name in where)
    with pytest.raises(RuntimeError):
        pool.submit(print)  # shut down by the context


@aio
async def test_to_async_keeps_the_loop_free():
    def slow(x: int) -> int:
        time.sleep(0.2)
        return x * 2

    fast = to_async(slow)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(10):
            await asyncio.sleep(0.01)
            ticks += 1

    results = await asyncio.gather(fast(1), fast(2), ticker())
    assert results[:2] == [2, 4] and ticks == 10
    assert to_async(ticker) is ticker


# -- the pool -----------------------------------------------------------------------------------------
@aio
async def test_pool_streams_results_as_they_complete_with_stats():
    g = Gauge()
    async with RunPool(max_concurrency=2) as pool:
        batch = pool.submit_many([g.job("slow", 0.3), g.job("quick", 0.05), g.job("medium", 0.15)])
        await asyncio.sleep(0.02)
        stats = pool.stats()
        assert (stats.submitted, stats.running, stats.pending, stats.done) == (3, 2, 1, 0)
        assert stats["running"] == 2
        order = [o.name async for o in pool.results()]
        assert order == ["quick", "medium", "slow"]
        assert [o.value for o in await batch] == ["slow", "quick", "medium"]
        done = pool.stats()
        assert (done.running, done.pending, done.done, done.succeeded, done.failed) == (0, 0, 3, 3, 0)


@aio
async def test_pool_submit_single_and_batch_iteration():
    g = Gauge()
    seen: list[str] = []
    async with RunPool(max_concurrency=4, on_result=lambda o: seen.append(o.name), queue_results=False) as pool:
        one = await pool.submit(g.job("one", 0.01))
        assert one.ok and one.value == "one"
        names = [o.name async for o in pool.submit_many([g.job("b", 0.1), g.job("a", 0.02)])]
        assert names == ["a", "b"]
        failing = await pool.submit(g.job("bad", 0.01, fail=True))
    assert failing.status is S.FAILED and seen == ["one", "a", "b", "bad"]
    assert pool.stats().failed == 1 and pool.stats().queued_results == 0
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(g.job("late", 0.01))


@aio
async def test_pool_shutdown_cancels_or_drains():
    g = Gauge()
    pool = RunPool(max_concurrency=2)
    pool.submit_many([g.job("x", 5), g.job("y", 5), g.job("z", 5)])
    await asyncio.sleep(0.02)
    started = time.monotonic()
    await pool.shutdown(cancel=True)
    assert time.monotonic() - started < 0.5
    outcomes = [o async for o in pool.results()]
    assert {o.status for o in outcomes} == {S.CANCELLED} and len(outcomes) == 3
    assert pool.stats().cancelled == 3

    drained = RunPool(max_concurrency=2)
    drained.submit_many([g.job("d1", 0.05), g.job("d2", 0.05), g.job("d3", 0.05)])
    await drained.shutdown()
    assert drained.stats().succeeded == 3

    limited = RunPool()
    limited.submit(g.job("forever", 5))
    await limited.shutdown(timeout=0.05)  # drain, but give up after 50 ms
    assert limited.stats().cancelled == 1


@aio
async def test_pool_per_job_timeout_and_retries():
    attempts = {"n": 0}

    async def flaky() -> str:
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise ConnectionError("later")
        return "ok"

    g = Gauge()
    async with RunPool(max_concurrency=2, timeout=0.1, retries=2, retry_delay=0.01) as pool:
        a = pool.submit(flaky)
        b = pool.submit(g.job("stuck", 5))
        assert (await a).attempts == 3
        assert (await b).status is S.TIMED_OUT
    assert pool.stats().timed_out == 1


@aio
async def test_pool_per_job_overrides():
    g = Gauge()
    calls = {"n": 0}

    async def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 2:
            raise ConnectionError("later")
        return "ok"

    async with RunPool(timeout=10, retries=0, retry_delay=0.01) as pool:
        quick_timeout = pool.submit(g.job("stuck", 5), timeout=0.05)
        retried = pool.submit(flaky, retries=1)
        assert (await quick_timeout).status is S.TIMED_OUT
        assert (await retried).ok and calls["n"] == 2


# -- decorators -------------------------------------------------------------------------------------------
@aio
async def test_with_retry_with_timeout_and_with_semaphore():
    calls = {"n": 0}

    @with_retry(max_retries=3, delay=0.01, backoff=2.0, retry_on=(ConnectionError,))
    async def fetch() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionError("reset")
        return "data"

    assert await fetch() == "data" and calls["n"] == 3

    @with_retry(max_retries=1, delay=0.01)
    async def never() -> None:
        raise OSError("down")

    with pytest.raises(OSError):
        await never()

    @with_timeout(0.05)
    async def slow() -> None:
        await asyncio.sleep(5)

    with pytest.raises(TimeoutError, match=r"timed out after 0\.05s"):
        await slow()

    g = Gauge()
    limited = with_semaphore(asyncio.Semaphore(2))(g.job("lim", 0.03))
    await asyncio.gather(*(limited() for _ in range(6)))
    assert g.peak == 2

    with pytest.raises(TypeError, match="async function"):
        with_retry()(lambda: 1)


def test_with_semaphore_by_number_works_across_event_loops():
    g = Gauge()
    limited = with_semaphore(3)(g.job("n", 0.02))

    async def burst() -> None:
        await asyncio.gather(*(limited() for _ in range(7)))

    asyncio.run(burst())
    asyncio.run(burst())  # a second loop gets its own semaphore
    assert g.peak == 3
