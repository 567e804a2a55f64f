"""PipelineRunner: triggers polled in the background, overlap policies, limits, pauses, results, stop.

Real pipelines run locally (``run_local_async``) and on the real embedded ``local`` backend (detached
subprocess runs); intervals are fractions of a second, cron runs against a fake wall clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import threading
import time
from pathlib import Path

import attrs
import pytest

from flowyml import Pipeline, context, step
from flowyml.aio import (
    AsyncTrigger,
    CronTrigger,
    ExternalTrigger,
    IntervalTrigger,
    PipelinePausedError,
    PipelineRunner,
    RunnerConfig,
    RunnerOutcome,
    TriggerError,
    TriggerResult,
    remote,
)
from flowyml.core.errors import RunNotFoundError
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators import RemoteOrchestrator
from flowyml.plugins import Backend
from flowyml.plugins.manager import get_plugin_manager
from flowyml.plugins.types import LogRecord, RunHandle, StatusReport
from flowyml.stacks.local import LocalOrchestrator
from flowyml.testing import pipelines

S = ExecutionStatus
FAST = 0.01  # trigger_poll_interval of most tests


def aio(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return run


async def until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Gauge:
    """An async job that sleeps and records how many of its runs overlapped."""

    def __init__(self, seconds: float = 0.0, fail: bool = False) -> None:
        self.seconds = seconds
        self.fail = fail
        self.now = 0
        self.peak = 0
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await asyncio.sleep(self.seconds)
            if self.fail:
                raise ValueError(f"boom {self.calls}")
            return self.calls
        finally:
            self.now -= 1


# -- triggers and local pipelines ---------------------------------------------------------------------
@step(outputs=["greeting"])
async def greet(who: str = "world", times: int = 1) -> str:
    await asyncio.sleep(0.01)
    return " ".join([f"hello {who}"] * times)


def greeter() -> Pipeline:
    return Pipeline("greeter", context=context(who="world"), enable_cache=False).add_step(greet)


@aio
async def test_an_interval_trigger_runs_a_local_pipeline_in_the_background():
    seen: list[RunnerOutcome] = []
    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST), result_callback=seen.append)
    runner.add(greeter(), triggers=[IntervalTrigger(seconds=0.1)], name="refresh", context={"times": 2})
    started = time.monotonic()
    await runner.start()
    outcomes = []
    async for outcome in runner.iter_results(timeout=5):
        outcomes.append(outcome)
        if len(outcomes) == 3:
            break
    elapsed = time.monotonic() - started
    await runner.stop()
    assert [o.status for o in outcomes] == [S.COMPLETED] * 3
    assert all(o.name == "refresh" and o.value["greeting"] == "hello world hello world" for o in outcomes)
    assert len({o.run_id for o in outcomes}) == 3 and all(o.run_id.startswith("refresh-") for o in outcomes)
    assert outcomes[0].trigger == "IntervalTrigger(0.1s)" and outcomes[0].context == {"times": 2}
    assert 0.28 <= elapsed < 5.0  # first firing one interval after the start, then every 0.1 s
    assert seen[:3] == outcomes
    stats = runner.get_stats()
    assert not stats.running and stats["pipelines"] == 1 and stats.runs >= 3 and stats.succeeded == stats.runs


@aio
async def test_interval_trigger_merges_missed_firings_and_can_fire_immediately():
    now = [100.0]
    trigger = IntervalTrigger(seconds=10, immediately=True, clock=lambda: now[0])
    trigger.reset()
    assert (await trigger.should_trigger()).should_run  # at the start
    assert not (await trigger.should_trigger()).should_run
    now[0] += 35  # three and a half intervals late: one firing, the next a full interval later
    assert (await trigger.should_trigger()).should_run
    assert not (await trigger.should_trigger()).should_run
    now[0] += 9.9
    assert not (await trigger.should_trigger()).should_run
    now[0] += 0.1
    assert (await trigger.should_trigger()).should_run
    with pytest.raises(ValueError, match="positive interval"):
        IntervalTrigger()


@aio
async def test_a_firing_while_the_previous_run_goes_on_is_skipped_by_default():
    job = Gauge(seconds=0.25)
    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST))
    runner.add(job, triggers=[IntervalTrigger(seconds=0.05)], name="slow")
    async with runner:
        await asyncio.sleep(0.9)
    stats = runner.get_stats().per_pipeline["slow"]
    assert job.peak == 1  # never two runs of it at once
    assert 2 <= stats.runs <= 4 and stats.skipped_firings >= 3
    assert stats.firings == stats.runs + stats.skipped_firings


@aio
async def test_overlap_queue_runs_firings_one_after_another_and_allow_runs_them_side_by_side():
    queued, allowed = Gauge(seconds=0.2), Gauge(seconds=0.2)
    fire_q, fire_a = ExternalTrigger("q"), ExternalTrigger("a")
    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST, max_queued_firings=2))
    runner.add(queued, triggers=[fire_q], name="queued", overlap="queue")
    runner.add(allowed, triggers=[fire_a], name="allowed", overlap="allow")
    async with runner:
        for _ in range(4):
            fire_q.fire()
            fire_a.fire()
        await until(lambda: runner.get_stats().per_pipeline["queued"].queued_firings == 2, what="two queued")
        await until(lambda: runner.get_stats().runs == 7, what="seven runs")
    per = runner.get_stats().per_pipeline
    assert queued.peak == 1 and per["queued"].runs == 3 and per["queued"].skipped_firings == 1  # 1 runs, 2 wait
    assert allowed.peak == 4 and per["allowed"].runs == 4 and per["allowed"].skipped_firings == 0


@aio
async def test_max_concurrent_runs_holds_across_pipelines():
    shared = Gauge(seconds=0.2)  # one counter for the four pipelines' runs
    triggers = [ExternalTrigger() for _ in range(4)]
    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST, max_concurrent_runs=2))
    for i, trigger in enumerate(triggers):
        runner.add(shared, triggers=[trigger], name=f"p{i}")
    async with runner:
        for trigger in triggers:
            trigger.fire()
        await until(lambda: runner.get_stats().firings == 4, what="four firings")
        stats = runner.get_stats()
        assert stats.active_runs == 2 and stats.pending_tasks == 2  # two hold a slot, two wait for one
        await until(lambda: runner.get_stats().runs == 4, what="four runs")
    assert shared.calls == 4 and shared.peak == 2 and runner.get_stats().succeeded == 4


@aio
async def test_the_concurrency_limit_is_never_exceeded():
    active = {"now": 0, "peak": 0}

    async def work() -> None:
        active["now"] += 1
        active["peak"] = max(active["peak"], active["now"])
        await asyncio.sleep(0.05)
        active["now"] -= 1

    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST, max_concurrent_runs=3, overlap="allow"))
    trigger = ExternalTrigger()
    runner.add(work, triggers=[trigger])
    async with runner:
        for _ in range(12):
            trigger.fire()
        await until(lambda: runner.get_stats().runs == 12, what="twelve runs")
    assert active["peak"] == 3


# -- failures ------------------------------------------------------------------------------------------
@aio
async def test_consecutive_failures_pause_the_pipeline_and_report_it():
    errors: list[BaseException] = []
    job = Gauge(fail=True)
    runner = PipelineRunner(
        RunnerConfig(trigger_poll_interval=FAST, max_consecutive_failures=3), error_callback=errors.append
    )
    runner.add(job, triggers=[IntervalTrigger(seconds=0.02)], name="flaky")
    async with runner:
        await until(lambda: runner.get_stats().paused == ("flaky",), what="the pause")
        await asyncio.sleep(0.2)  # paused: its trigger is not polled, nothing runs
        stats = runner.get_stats().per_pipeline["flaky"]
        assert job.calls == 3 and stats.runs == 3 and stats.failures == 3 and stats.paused
        assert "paused after 3 consecutive failed runs" in stats.paused_reason
        paused = [e for e in errors if isinstance(e, PipelinePausedError)]
        assert len(paused) == 1 and paused[0].name == "flaky" and str(paused[0].last_error) == "boom 3"
        assert [str(e) for e in errors if isinstance(e, ValueError)] == ["boom 1", "boom 2", "boom 3"]
        job.fail = False
        runner.resume("flaky")
        await until(lambda: runner.get_stats().per_pipeline["flaky"].succeeded >= 1, what="a run after resume")
    stats = runner.get_stats().per_pipeline["flaky"]
    assert not stats.paused and stats.consecutive_failures == 0


@aio
async def test_a_success_resets_the_consecutive_count():
    results = iter([True, True, False, True, True, False, True, True])  # True: this run fails

    async def sometimes() -> None:
        if next(results):
            raise ValueError("flaky")

    runner = PipelineRunner(RunnerConfig(max_consecutive_failures=3))
    runner.add(sometimes, name="sometimes")
    statuses = [(await runner.run_once("sometimes")).status for _ in range(8)]
    stats = runner.get_stats().per_pipeline["sometimes"]
    assert statuses.count(S.FAILED) == 6 and stats.runs == 8
    assert not stats.paused and stats.consecutive_failures == 2


@aio
async def test_stop_on_error_stops_the_runner_after_the_first_failure():
    ok, bad = Gauge(seconds=0.02), Gauge(seconds=0.05, fail=True)
    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST, stop_on_error=True))
    runner.add(ok, triggers=[IntervalTrigger(seconds=0.02)], name="ok")
    runner.add(bad, triggers=[IntervalTrigger(seconds=0.1)], name="bad")
    await runner.start()
    await asyncio.wait_for(runner.wait_stopped(), 5)
    stats = runner.get_stats()
    assert not stats.running and stats.stopped_reason.startswith("stop_on_error: bad ended FAILED: boom 1")
    assert bad.calls == 1 and ok.calls >= 1
    outcomes = [o async for o in runner.iter_results()]  # the queue is drained, then it ends
    assert any(o.name == "bad" and o.status is S.FAILED for o in outcomes)
    with pytest.raises(RuntimeError, match="cannot start again"):
        await runner.start()


@aio
async def test_a_failing_trigger_is_reported_and_polled_again():
    errors: list[BaseException] = []

    class Flaky(AsyncTrigger):
        polls = 0

        async def should_trigger(self) -> TriggerResult:
            self.polls += 1
            if self.polls <= 2:
                raise OSError("queue unreachable")
            return TriggerResult(self.polls == 3)

    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST), error_callback=errors.append)
    runner.add(Gauge(), triggers=[Flaky()], name="q")
    async with runner:
        await until(lambda: runner.get_stats().runs == 1, what="a run")
    assert runner.get_stats().trigger_errors == 2
    assert all(isinstance(e, TriggerError) and "queue unreachable" in str(e) and e.name == "q" for e in errors)


# -- custom and external triggers, run context --------------------------------------------------------
@aio
async def test_an_async_trigger_on_a_file_appearing_passes_its_context(tmp_path: Path):
    class FileAppeared(AsyncTrigger):
        def __init__(self, folder: Path) -> None:
            super().__init__()
            self.folder = folder
            self.seen: set[str] = set()

        async def should_trigger(self) -> TriggerResult:
            new = sorted(p.name for p in self.folder.iterdir() if p.name not in self.seen)
            if not new:
                return TriggerResult(False)
            self.seen.add(new[0])
            self.wake()  # more files may wait: poll again now
            return TriggerResult(True, context={"who": new[0]}, reason="file")

    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST))
    runner.add(greeter(), triggers=[FileAppeared(tmp_path)], overlap="allow")
    async with runner:
        await asyncio.sleep(0.05)
        (tmp_path / "a.csv").touch()
        (tmp_path / "b.csv").touch()
        got = []
        async for outcome in runner.iter_results(timeout=5):
            got.append(outcome.value["greeting"])
            if len(got) == 2:
                break
    assert sorted(got) == ["hello a.csv", "hello b.csv"]


@aio
async def test_external_trigger_fires_from_any_thread_without_waiting_for_the_poll():
    received: list[dict] = []

    async def handle(context: dict) -> str:
        received.append(context)
        return context["order"]

    trigger = ExternalTrigger("orders")
    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=30.0, overlap="queue"))
    runner.add(handle, triggers=[trigger], context={"shop": "eu"})
    async with runner:
        started = time.monotonic()
        threading.Thread(target=lambda: [trigger.fire(context={"order": f"o{i}"}) for i in range(3)]).start()
        got = []
        async for outcome in runner.iter_results(timeout=5):
            got.append(outcome.value)
            if len(got) == 3:
                break
        assert time.monotonic() - started < 5.0  # a 30 s poll interval did not delay them
    assert got == ["o0", "o1", "o2"]
    assert received == [{"shop": "eu", "order": f"o{i}"} for i in range(3)]


@aio
async def test_pipelines_added_paused_and_removed_while_running_and_async_callbacks():
    seen: list[str] = []

    async def remember(outcome: RunnerOutcome) -> None:  # a coroutine callback runs as a task
        await asyncio.sleep(0)
        seen.append(outcome.name)

    class Always(AsyncTrigger):
        async def should_trigger(self) -> bool:  # a plain bool is a TriggerResult too
            return True

    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=0.02), result_callback=remember)
    async with runner:
        runner.add(Gauge(), triggers=[Always()], name="late")  # added after start: polled at once
        await until(lambda: "late" in seen, what="a run of the late pipeline")
        runner.pause("late")
        await until(lambda: runner.get_stats().per_pipeline["late"].active == 0, what="its last run to end")
        runs = runner.get_stats().per_pipeline["late"].runs
        await asyncio.sleep(0.15)
        assert runner.get_stats().per_pipeline["late"].runs == runs
        assert runner.get_stats().paused == ("late",)
        runner.resume("late")
        await until(lambda: runner.get_stats().per_pipeline["late"].runs > runs, what="a run after resume")
        runner.remove("late")
        assert runner.names == [] and runner.get_stats().pipelines == 0
    with pytest.raises(RuntimeError, match="stopped; create a new one"):
        runner.add(Gauge(), name="too-late")


# -- the result queue ----------------------------------------------------------------------------------
@aio
async def test_a_full_result_queue_drops_the_oldest_and_counts_them():
    trigger = ExternalTrigger()
    counter = iter(range(100))

    async def numbered() -> int:
        return next(counter)

    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST, result_queue_size=3, overlap="allow"))
    runner.add(numbered, triggers=[trigger])
    async with runner:
        for _ in range(10):
            trigger.fire()
        await until(lambda: runner.get_stats().runs == 10, what="ten runs")
        stats = runner.get_stats()
        assert stats.queued_results == 3 and stats.dropped_results == 7
    assert sorted([o.value async for o in runner.iter_results()]) == [7, 8, 9]


@aio
async def test_backpressure_wait_holds_the_finished_run_until_results_are_read():
    job = Gauge()
    runner = PipelineRunner(
        RunnerConfig(trigger_poll_interval=FAST, result_queue_size=1, backpressure="wait", overlap="skip")
    )
    runner.add(job, triggers=[IntervalTrigger(seconds=0.02)], name="producer")
    async with runner:
        await asyncio.sleep(0.4)  # nobody reads: one result queued, one run waiting for room, firings skipped
        stats = runner.get_stats()
        assert job.calls == 2 and stats.queued_results == 1 and stats.pending_tasks == 1
        assert stats.per_pipeline["producer"].skipped_firings >= 5 and stats.dropped_results == 0
        values = []
        async for outcome in runner.iter_results(timeout=5):
            values.append(outcome.value)
            if len(values) == 4:
                break
    assert values == [1, 2, 3, 4]


@aio
async def test_iter_results_ends_after_its_timeout_without_results():
    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST))
    runner.add(Gauge(), triggers=[IntervalTrigger(hours=1)], name="rare")
    async with runner:
        started = time.monotonic()
        assert [o async for o in runner.iter_results(timeout=0.2)] == []
        assert 0.15 < time.monotonic() - started < 1.5
    with pytest.raises(RuntimeError, match="result_queue_size is 0"):
        async for _ in PipelineRunner(RunnerConfig(result_queue_size=0)).iter_results():
            pass


# -- run_once / run_all --------------------------------------------------------------------------------
@aio
async def test_run_once_and_run_all_run_now_with_a_context():
    runner = PipelineRunner(RunnerConfig(max_consecutive_failures=1))
    runner.add(greeter(), name="greet")
    bad = Gauge(fail=True)
    runner.add(bad, name="bad")
    once = await runner.run_once("greet", context={"who": "you"})
    assert once.ok and once.value["greeting"] == "hello you" and once.trigger == "run_once"
    assert (await runner.run_once("bad")).status is S.FAILED
    assert runner.get_stats().paused == ("bad",)
    everything = await runner.run_all(context={"times": 3})  # the paused one is left out
    assert [o.name for o in everything] == ["greet"] and everything[0].value[
        "greeting"
    ] == "hello world " * 2 + "hello world"
    assert (await runner.run_once("bad")).status is S.FAILED  # run_once runs a paused pipeline anyway
    assert runner.get_stats().queued_results == 0  # direct runs return their outcome; the queue is for triggers
    with pytest.raises(KeyError, match="no pipeline named 'nope' in this runner \\(registered: 'greet', 'bad'\\)"):
        await runner.run_once("nope")
    adhoc = await runner.run_once(greeter(), context={"who": "there"})  # an object: run once, not registered
    assert adhoc.ok and adhoc.name == "greeter" and adhoc.value["greeting"] == "hello there"
    assert (await runner.run_once(Gauge(fail=True))).status is S.FAILED and runner.names == ["greet", "bad"]


@aio
async def test_cancelling_run_once_cancels_its_run():
    job = Gauge(seconds=10)
    runner = PipelineRunner()
    runner.add(job, name="long")
    task = asyncio.create_task(runner.run_once("long"))
    await until(lambda: job.now == 1, what="the run")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert job.now == 0 and runner.get_stats().per_pipeline["long"].last_status == "CANCELLED"


# -- registration and config errors --------------------------------------------------------------------
@aio
async def test_bad_registrations_and_configs_say_what_to_do():
    runner = PipelineRunner()
    trigger = IntervalTrigger(seconds=1)
    runner.add(greeter(), triggers=[trigger])
    with pytest.raises(ValueError, match="'greeter' is already registered: pass name="):
        runner.add(greeter())
    with pytest.raises(ValueError, match="give each pipeline its own trigger"):
        runner.add(greeter(), triggers=[trigger], name="second")
    with pytest.raises(TypeError, match="'noctx' cannot take a run context"):
        runner.add(lambda: 1, name="noctx", context={"a": 1})
    sub = await LocalOrchestrator().run_pipeline_async(pipelines.two_units, run_id="runner-once")
    with pytest.raises(TypeError, match=r"it is one run.*flowyml\.aio\.remote"):
        runner.add(sub)
    await sub.wait_async(timeout=60, poll_interval=0.1)
    with pytest.raises(TypeError, match="AsyncTrigger instances"):
        runner.add(greeter(), triggers=["0 3 * * *"], name="third")
    with pytest.raises(ValueError, match="overlap for 'fourth' must be one of"):
        runner.add(greeter(), name="fourth", overlap="sometimes")
    for field, value, message in [
        ("max_concurrent_runs", 0, "RunnerConfig.max_concurrent_runs must be >= 1"),
        ("trigger_poll_interval", 0, "RunnerConfig.trigger_poll_interval must be > 0"),
        ("overlap", "twice", "RunnerConfig.overlap must be one of"),
        ("backpressure", "block", "RunnerConfig.backpressure must be one of"),
        ("max_consecutive_failures", 0, "RunnerConfig.max_consecutive_failures must be >= 1 or None"),
    ]:
        with pytest.raises(ValueError, match=message):
            RunnerConfig(**{field: value})

    trigger_ctx = ExternalTrigger()
    runner.add(lambda: 1, triggers=[trigger_ctx], name="plain")
    async with runner:
        trigger_ctx.fire(context={"x": 1})  # a firing with a context for a function that takes none
        outcome = await anext(runner.iter_results(timeout=5))
    assert outcome.status is S.FAILED and "add a context parameter" in str(outcome.error)


# -- cron ---------------------------------------------------------------------------------------------
class FakeClock:
    """Wall-clock time the test moves forward."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@aio
async def test_a_cron_trigger_fires_at_its_times_on_a_fake_clock():
    clock = FakeClock(dt.datetime(2026, 6, 1, 2, 58, 30, tzinfo=dt.timezone.utc))  # 04:58:30 in Paris (CEST)
    trigger = CronTrigger("0,30 5 * * *", timezone="Europe/Paris", clock=clock, context_key="scheduled_for")
    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST))
    runner.add(greeter(), triggers=[trigger], name="paris", overlap="allow")
    async with runner:
        await asyncio.sleep(0.1)
        assert runner.get_stats().firings == 0
        clock.advance(minutes=1)  # 04:59:30: not yet
        await asyncio.sleep(0.1)
        assert runner.get_stats().firings == 0
        clock.advance(seconds=30)  # 05:00:00 Paris
        first = await anext(runner.iter_results(timeout=5))
        clock.advance(minutes=29, seconds=59)
        await asyncio.sleep(0.1)
        assert runner.get_stats().firings == 1
        clock.advance(seconds=1)  # 05:30
        second = await anext(runner.iter_results(timeout=5))
        clock.advance(days=3)  # the machine slept through 6 firings: one catch-up firing, not six
        third = await anext(runner.iter_results(timeout=5))
        await asyncio.sleep(0.1)
    assert first.ok and first.context == {"scheduled_for": "2026-06-01T05:00:00+02:00"}
    assert second.context == {"scheduled_for": "2026-06-01T05:30:00+02:00"}
    assert third.context == {"scheduled_for": "2026-06-02T05:00:00+02:00"}
    assert runner.get_stats().firings == 3
    assert trigger.next_fire == dt.datetime(2026, 6, 5, 5, 0, tzinfo=trigger.schedule.tz)


def test_cron_daylight_saving_days():
    def fires(expr: str, start: dt.datetime, hours: float) -> list[str]:
        clock = FakeClock(start)
        trigger = CronTrigger(expr, "Europe/Paris", clock=clock, context_key="t")
        trigger.reset()
        out: list[str] = []
        for _ in range(int(hours * 60)):
            clock.advance(minutes=1)
            result = trigger_result(trigger)
            if result.should_run:
                out.append(result.context["t"])
        return out

    def trigger_result(trigger: CronTrigger) -> TriggerResult:
        coro = trigger.should_trigger()
        try:
            coro.send(None)
        except StopIteration as done:
            return done.value
        raise AssertionError("CronTrigger.should_trigger does not await")

    utc = dt.timezone.utc
    # spring: 02:30 does not exist on 2026-03-29 in Paris: it fires at 03:00, the end of the gap
    assert fires("30 2 * * *", dt.datetime(2026, 3, 28, 23, 0, tzinfo=utc), 26) == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]
    # autumn: 02:30 happens twice on 2026-10-25: a fixed-time job fires once
    assert fires("30 2 * * *", dt.datetime(2026, 10, 24, 22, 0, tzinfo=utc), 29) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]
    # ... and a job with a wildcard hour fires in both passes of the repeated hour (time really elapsed)
    repeated = fires("*/30 * * * *", dt.datetime(2026, 10, 24, 23, 45, tzinfo=utc), 2.5)
    assert repeated == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]


def test_cron_expressions_and_zones_are_checked_up_front(monkeypatch: pytest.MonkeyPatch):
    for bad, message in [
        ("0 3 * *", "expected 5 fields"),
        ("0 3 * * * *", "expected 5 fields"),
        ("61 3 * * *", "out of range"),
        ("0 0 30 2 *", "never fires"),
    ]:
        with pytest.raises(ValueError, match=message):
            CronTrigger(bad)
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        CronTrigger("0 3 * * *", timezone="Mars/Olympus")
    assert CronTrigger("@daily").describe() == "CronTrigger('@daily', 'UTC')"
    assert CronTrigger("0  3 * *  mon-fri", "America/New_York").schedule.expression == "0 3 * * mon-fri"
    monkeypatch.setitem(__import__("sys").modules, "croniter", None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=r"pip install croniter \(or pip install \"\./flowyml-core\[cron\]\"\)"):
        CronTrigger("0 3 * * *")


# -- stopping, and remote runs on the local backend ----------------------------------------------------
def registered_status(orch: LocalOrchestrator, run_id: str) -> S | None:
    try:
        return orch.get_run_status(run_id)
    except RunNotFoundError:  # the submit is still in flight
        return None


@aio
async def test_a_graceful_stop_waits_for_the_running_run():
    job = Gauge(seconds=0.3)
    trigger = ExternalTrigger()
    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST, graceful_shutdown_timeout=10))
    runner.add(job, triggers=[trigger], name="finishing")
    await runner.start()
    trigger.fire()
    await until(lambda: job.now == 1, what="the run")
    started = time.monotonic()
    await runner.stop()
    assert time.monotonic() - started < 5
    outcomes = [o async for o in runner.iter_results()]
    assert [o.status for o in outcomes] == [S.COMPLETED]
    assert runner.get_stats().stopped_reason is None and not runner.running


@aio
async def test_stop_with_cancel_does_not_wait_and_run_timeouts_and_retries_apply():
    long, flaky = Gauge(seconds=10), Gauge(fail=True)
    trigger_long, trigger_flaky = ExternalTrigger(), ExternalTrigger()
    config = RunnerConfig(trigger_poll_interval=FAST, run_timeout=0.2, retries=2, retry_delay=0.01)
    runner = PipelineRunner(config)
    runner.add(long, triggers=[trigger_long], name="long")
    runner.add(flaky, triggers=[trigger_flaky], name="flaky")
    await runner.start()
    trigger_long.fire()
    trigger_flaky.fire()
    outcomes = {o.name: o async for o in _take(runner, 2)}
    assert outcomes["long"].status is S.TIMED_OUT and outcomes["long"].attempts == 1  # timeouts are not retried
    assert outcomes["flaky"].status is S.FAILED and outcomes["flaky"].attempts == 3 and flaky.calls == 3
    assert runner.get_stats().failures == 2
    await runner.stop()

    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST, graceful_shutdown_timeout=30))
    runner.add(Gauge(seconds=10), triggers=[IntervalTrigger(seconds=0.01, immediately=True)], name="hold")
    await runner.start()
    await until(lambda: runner.get_stats().active_runs == 1, what="a run holding its slot")
    started = time.monotonic()
    await runner.stop(cancel=True)  # no graceful wait
    assert time.monotonic() - started < 5.0
    stats = runner.get_stats()
    assert stats.per_pipeline["hold"].last_status == "CANCELLED" and stats.cancelled == 1
    assert stats.failures == 0  # a run cancelled by stop is no failure


async def _take(runner: PipelineRunner, count: int):
    got = 0
    async for outcome in runner.iter_results(timeout=10):
        yield outcome
        got += 1
        if got == count:
            return


@aio
async def test_cancelling_a_graceful_stop_cancels_the_runs():
    job = Gauge(seconds=30)
    trigger = ExternalTrigger()
    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST, graceful_shutdown_timeout=60))
    runner.add(job, triggers=[trigger], name="long")
    await runner.start()
    trigger.fire()
    await until(lambda: job.now == 1, what="the run")
    stopping = asyncio.create_task(runner.stop())
    await asyncio.sleep(0.1)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    await until(lambda: job.now == 0, what="the run cancelled")
    assert not runner.running and runner.get_stats().per_pipeline["long"].last_status == "CANCELLED"


@aio
async def test_remote_runs_on_the_local_backend_get_their_context_and_run_ids():
    orch = LocalOrchestrator(grace_period=1.0)
    trigger = ExternalTrigger()
    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST, overlap="allow"))
    runner.add(remote(orch, pipelines.two_units, poll_interval=0.1), triggers=[trigger], name="nightly")
    async with runner:
        trigger.fire(context={"count": 4})
        trigger.fire()
        outcomes = [await anext(runner.iter_results(timeout=120)) for _ in range(2)]
    totals = sorted([await asyncio.to_thread(o.value.get_output, "total") for o in outcomes])
    assert totals == [18, 30]  # factor 3 * (0+1+2+3), and the pipeline's own count=5
    assert all(o.ok and o.run_id.startswith("nightly-") and o.value.run_id == o.run_id for o in outcomes)
    assert await orch.get_run_status_async(outcomes[0].run_id) is S.COMPLETED


@aio
async def test_a_forced_stop_cancels_the_remote_run_on_its_backend():
    orch = LocalOrchestrator(grace_period=1.0)
    runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST, graceful_shutdown_timeout=0.3))
    runner.add(remote(orch, pipelines.slow, poll_interval=0.1), triggers=[IntervalTrigger(seconds=0.05)], name="slow")
    await runner.start()
    await until(lambda: runner.get_stats().per_pipeline["slow"].last_run_id is not None, what="a firing")
    run_id = runner.get_stats().per_pipeline["slow"].last_run_id
    await until(lambda: registered_status(orch, run_id) is S.RUNNING, timeout=60, what="the remote run running")
    await runner.stop()  # waits 0.3 s, then cancels: the backend confirms CANCELLED before stop returns
    assert await orch.get_run_status_async(run_id) is S.CANCELLED
    stats = runner.get_stats()
    assert stats.per_pipeline["slow"].runs == 1 and stats.cancelled == 1 and stats.failures == 0
    outcomes = [o async for o in runner.iter_results()]
    assert [(o.run_id, o.status) for o in outcomes] == [(run_id, S.CANCELLED)]


# -- a stop while a remote submit is still in flight --------------------------------------------------
@attrs.define(frozen=True)
class GateConfig:
    region: str = "here"


class GatedBackend(Backend):
    """A backend whose submit blocks until the test opens the gate; cancel makes a run CANCELLED."""

    name = "gated_fake"
    config_class = GateConfig
    capabilities = frozenset({"cancel"})
    native_states = {s.value: s for s in S if s is not S.UNKNOWN}

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.states: dict[str, S] = {}
        self.cancels: list[str] = []

    def submit(self, spec, config):
        self.entered.set()
        self.gate.wait(30)
        self.states[spec.run_id] = S.RUNNING
        return RunHandle(backend=self.name, run_id=spec.run_id, job_id=f"job-{spec.run_id}")

    def status(self, handle, config):
        state = self.states[handle.run_id]
        return StatusReport(state, native_state=state.value)

    def cancel(self, handle, config, graceful):
        self.cancels.append(handle.run_id)
        self.states[handle.run_id] = S.CANCELLED
        return True

    def logs(self, handle, config, cursor) -> list[LogRecord]:
        return []


@aio
async def test_a_stop_during_a_remote_submit_cancels_the_run_it_creates_before_returning():
    backend = GatedBackend()
    get_plugin_manager().register_backend(backend, name="gated-fake-test")
    try:
        trigger = ExternalTrigger()
        runner = PipelineRunner(RunnerConfig(trigger_poll_interval=FAST))
        orch = RemoteOrchestrator(backend=backend.name)
        runner.add(remote(orch, pipelines.two_units, poll_interval=0.05), triggers=[trigger], name="gated")
        await runner.start()
        trigger.fire()
        await until(backend.entered.is_set, what="the submit in flight")
        stopping = asyncio.create_task(runner.stop(cancel=True))
        await asyncio.sleep(0.2)
        assert not stopping.done()  # it waits for the submit to return, to cancel what it created
        backend.gate.set()
        await asyncio.wait_for(stopping, 10)
        run_id = runner.get_stats().per_pipeline["gated"].last_run_id
        assert backend.cancels == [run_id] and backend.states[run_id] is S.CANCELLED
        assert [o.status async for o in runner.iter_results()] == [S.CANCELLED]
    finally:
        backend.gate.set()
        get_plugin_manager().unregister("gated-fake-test")
