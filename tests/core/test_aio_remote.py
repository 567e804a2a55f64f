"""Remote async: submit/status/stop/logs twins, ``wait_async`` semantics, cancellation that cancels the run.

Two backends: the real embedded ``local`` backend (subprocess runs that really end CANCELLED), and a
tiny in-memory backend registered in code whose status call sleeps, to prove the loop never blocks.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Iterator

import attrs
import pytest

import flowyml.aio
from flowyml.core.errors import RunFailedError, TransientBackendError, WaitTimeoutError
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators import RemoteOrchestrator, SubmissionResult
from flowyml.plugins import Backend
from flowyml.plugins.manager import get_plugin_manager
from flowyml.plugins.types import LogRecord, RunHandle, StatusReport
from flowyml.stacks.local import LocalOrchestrator
from flowyml.testing import pipelines

S = ExecutionStatus


def aio(fn):
    """Run an ``async def`` test on a fresh event loop (no pytest-asyncio needed)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    return run


async def loop_lags(stop: asyncio.Event, interval: float = 0.005) -> list[float]:
    """How late each 5 ms timer fired while ``stop`` was unset."""
    lags: list[float] = []
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(interval)
        lags.append(time.perf_counter() - t - interval)
    return lags


# -- an in-memory backend with a slow status call ---------------------------------------------
@attrs.define(frozen=True)
class SlowConfig:
    region: str = "here"


class SlowBackend(Backend):
    """Runs 'complete' ``duration`` s after submit; every call can be slowed or made to fail transiently."""

    name = "slow_fake"
    config_class = SlowConfig
    capabilities = frozenset({"cancel"})
    native_states = {s.value: s for s in S if s is not S.UNKNOWN}

    def __init__(self) -> None:
        self.runs: dict[str, dict] = {}
        self.status_delay = 0.0
        self.submit_delay = 0.0
        self.duration = 0.3
        self.cancel_delay = 0.1
        self.fail: set[str] = set()
        self.transient_status = 0
        self.status_calls = 0
        self.cancels: list[str] = []
        self.lock = threading.Lock()

    def submit(self, spec, config):
        time.sleep(self.submit_delay)
        self.runs.setdefault(spec.run_id, {"at": time.monotonic(), "cancel_at": None})
        return RunHandle(backend=self.name, run_id=spec.run_id, job_id=f"job-{spec.run_id}")

    def state(self, run_id: str) -> S:
        run = self.runs[run_id]
        now = time.monotonic()
        if run["cancel_at"] is not None:
            return S.CANCELLED if now >= run["cancel_at"] + self.cancel_delay else S.STOPPING
        if now >= run["at"] + self.duration:
            return S.FAILED if run_id in self.fail else S.COMPLETED
        return S.RUNNING

    def status(self, handle, config):
        with self.lock:
            self.status_calls += 1
            flaky = self.transient_status > 0
            self.transient_status -= int(flaky)
        time.sleep(self.status_delay)  # a slow network round trip, in whichever thread calls it
        if flaky:
            raise TransientBackendError("throttled (fake)")
        st = self.state(handle.run_id)
        return StatusReport(st, native_state=st.value, message="boom (fake)" if st is S.FAILED else None)

    def cancel(self, handle, config, graceful):
        self.cancels.append(handle.run_id)
        if self.state(handle.run_id).is_finished:
            return False
        self.runs[handle.run_id]["cancel_at"] = time.monotonic()
        return True

    def logs(self, handle, config, cursor) -> Iterator[LogRecord]:
        for i in range(int(cursor or 0), 5):
            time.sleep(self.status_delay)
            yield LogRecord(timestamp=time.time(), message=f"line {i}", cursor=str(i + 1))


@pytest.fixture
def slow_backend() -> Iterator[SlowBackend]:
    backend = SlowBackend()
    pm = get_plugin_manager()
    pm.register_backend(backend, name="slow-fake-test")
    yield backend
    pm.unregister("slow-fake-test")


@pytest.fixture
def slow_orch(slow_backend: SlowBackend) -> RemoteOrchestrator:
    return RemoteOrchestrator(backend=slow_backend.name)


# -- the loop stays free --------------------------------------------------------------------------
@aio
async def test_slow_status_calls_never_block_the_loop(slow_backend, slow_orch):
    slow_backend.status_delay = 0.25
    slow_backend.duration = 0.8
    subs = [await slow_orch.run_pipeline_async(pipelines.two_units, run_id=f"lag-{i}") for i in range(10)]
    stop = asyncio.Event()
    probe = asyncio.create_task(loop_lags(stop))
    statuses = await asyncio.gather(*(s.wait_async(poll_interval=0.05) for s in subs))
    stop.set()
    lags = sorted(await probe)
    assert statuses == [S.COMPLETED] * 10
    assert slow_backend.status_calls >= 10  # one 0.25 s call per run at least: on the loop, each a 250 ms stall
    stalls = [lag for lag in lags if lag >= 0.2]
    assert len(stalls) <= 2, f"the loop stalled {len(stalls)} times: {stalls}"  # (a busy CI box may stall once)
    assert lags[len(lags) // 2] < 0.02, f"median lag {lags[len(lags) // 2] * 1000:.0f} ms"


@aio
async def test_status_stop_and_logs_twins(slow_backend, slow_orch):
    slow_backend.duration = 5
    sub = await slow_orch.run_pipeline_async(pipelines.two_units, run_id="twins")
    assert isinstance(sub, SubmissionResult) and sub.job_id == "job-twins"
    assert await slow_orch.get_run_status_async("twins") is S.RUNNING
    await slow_orch.stop_run_async("twins")
    assert await flowyml.aio.get_run_status_async(slow_orch, "twins") in {S.STOPPING, S.CANCELLED}
    lines = [r.message async for r in slow_orch.stream_logs_async("twins")]
    assert lines == [f"line {i}" for i in range(5)]
    resumed = [r.message async for r in flowyml.aio.iter_logs_async(slow_orch, "twins", cursor="3")]
    assert resumed == ["line 3", "line 4"]


# -- wait_async ----------------------------------------------------------------------------------
@aio
async def test_transient_status_errors_are_polled_through_not_failures(slow_backend, slow_orch):
    slow_backend.transient_status = 3
    sub = await slow_orch.run_pipeline_async(pipelines.two_units, run_id="flaky")
    assert await sub.wait_async(poll_interval=0.05) is S.COMPLETED
    assert slow_backend.transient_status == 0


@aio
async def test_a_failed_run_raises_with_the_remote_error(slow_backend, slow_orch):
    slow_backend.fail.add("bad")
    sub = await slow_orch.run_pipeline_async(pipelines.two_units, run_id="bad")
    with pytest.raises(RunFailedError) as info:
        await sub.wait_async(poll_interval=0.05)
    assert info.value.status is S.FAILED and "boom (fake)" in str(info.value)
    assert await sub.wait_async(poll_interval=0.05, raise_on_failure=False) is S.FAILED


@aio
async def test_timeout_is_timed_out_and_leaves_the_run_going(slow_backend, slow_orch):
    slow_backend.duration = 5
    sub = await slow_orch.run_pipeline_async(pipelines.two_units, run_id="long")
    started = time.monotonic()
    with pytest.raises(flowyml.aio.RunTimedOutError) as info:
        await sub.wait_async(timeout=0.3, poll_interval=0.05)
    assert 0.3 <= time.monotonic() - started < 2.0
    err = info.value
    assert isinstance(err, WaitTimeoutError) and isinstance(err, TimeoutError)
    assert err.status is S.TIMED_OUT and not err.cancelled
    assert slow_backend.cancels == [] and slow_backend.state("long") is S.RUNNING


@aio
async def test_timeout_cancels_the_run_when_asked(slow_backend, slow_orch):
    slow_backend.duration = 5
    sub = await slow_orch.run_pipeline_async(pipelines.two_units, run_id="long2")
    with pytest.raises(flowyml.aio.RunTimedOutError) as info:
        await sub.wait_async(timeout=0.2, poll_interval=0.05, cancel_on_timeout=True)
    assert info.value.cancelled and info.value.final_status is S.CANCELLED
    assert info.value.status is S.TIMED_OUT  # never FAILED
    assert slow_backend.cancels == ["long2"]


@aio
async def test_cancelling_the_waiting_task_cancels_the_run(slow_backend, slow_orch):
    slow_backend.duration = 5
    slow_backend.cancel_delay = 0.2
    sub = await slow_orch.run_pipeline_async(pipelines.two_units, run_id="cancel-me")
    task = asyncio.create_task(sub.wait_async(poll_interval=0.05))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert slow_backend.cancels == ["cancel-me"]
    assert slow_backend.state("cancel-me") is S.CANCELLED  # the wait confirmed it before re-raising


@aio
async def test_cancel_on_cancel_can_be_turned_off(slow_backend, slow_orch):
    slow_backend.duration = 5
    sub = await slow_orch.run_pipeline_async(pipelines.two_units, run_id="keep-going")
    task = asyncio.create_task(sub.wait_async(poll_interval=0.05, cancel_on_cancel=False))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert slow_backend.cancels == [] and slow_backend.state("keep-going") is S.RUNNING


@aio
async def test_a_submit_cancelled_in_flight_leaves_no_orphan(slow_backend, slow_orch):
    slow_backend.submit_delay = 0.3
    slow_backend.duration = 5
    task = asyncio.create_task(flowyml.aio.submit_async(slow_orch, pipelines.two_units, run_id="orphan"))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + 3
    while slow_backend.cancels != ["orphan"] and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert slow_backend.cancels == ["orphan"]


# -- the real local backend ------------------------------------------------------------------------
@aio
async def test_local_backend_run_completes_with_logs_and_outputs():
    orch = LocalOrchestrator(grace_period=1.0)
    sub = await orch.run_pipeline_async(pipelines.two_units, run_id="aio-local-ok")
    assert await sub.wait_async(timeout=60, poll_interval=0.1) is S.COMPLETED
    assert await asyncio.to_thread(sub.get_output, "total") == 30
    messages = [r.message async for r in orch.stream_logs_async(sub.run_id)]
    assert "making 5 numbers" in messages


@aio
async def test_cancelled_task_leaves_the_local_backend_run_cancelled():
    orch = LocalOrchestrator(grace_period=1.0)
    sub = await orch.run_pipeline_async(pipelines.slow, run_id="aio-local-cancel")
    task = asyncio.create_task(sub.wait_async(poll_interval=0.1))
    deadline = time.monotonic() + 30
    while await orch.get_run_status_async(sub.run_id) is not S.RUNNING and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await orch.get_run_status_async(sub.run_id) is S.CANCELLED


@aio
async def test_local_backend_failure_and_timeout_semantics():
    orch = LocalOrchestrator(grace_period=1.0)
    bad = await orch.run_pipeline_async(pipelines.failing, run_id="aio-local-bad")
    slow = await orch.run_pipeline_async(pipelines.slow, run_id="aio-local-slow")
    with pytest.raises(RunFailedError, match="boom from the flowyml conformance kit"):
        await bad.wait_async(timeout=60, poll_interval=0.1)
    with pytest.raises(flowyml.aio.RunTimedOutError) as info:
        await slow.wait_async(timeout=0.5, poll_interval=0.1, cancel_on_timeout=True)
    assert info.value.final_status is S.CANCELLED
    assert await orch.get_run_status_async(slow.run_id) is S.CANCELLED


# -- remote runs in batches ------------------------------------------------------------------------------
@aio
async def test_batch_timeouts_cancel_remote_runs_unless_told_not_to(slow_backend, slow_orch):
    slow_backend.duration = 5
    outcomes = await flowyml.aio.run_many(
        [
            flowyml.aio.remote(slow_orch, pipelines.two_units, run_id="b-cancel", poll_interval=0.05),
            flowyml.aio.remote(
                slow_orch, pipelines.two_units, run_id="b-keep", poll_interval=0.05, cancel_on_cancel=False
            ),
            flowyml.aio.remote(slow_orch, pipelines.two_units, run_id="b-wait", poll_interval=0.05, wait_timeout=0.1),
        ],
        timeout=1.5,  # long enough for three submissions on a loaded machine; the runs take 5 s
    )
    assert [o.status for o in outcomes] == [S.TIMED_OUT] * 3
    assert isinstance(outcomes[2].error, flowyml.aio.RunTimedOutError)  # wait_async's own timeout
    assert slow_backend.cancels == ["b-cancel"]
    assert slow_backend.state("b-cancel") is S.CANCELLED and slow_backend.state("b-keep") is S.RUNNING


@aio
async def test_batch_retries_resubmit_and_submissions_can_be_awaited(slow_backend, slow_orch):
    slow_backend.duration = 0.1
    slow_backend.fail.add("r1")
    existing = await slow_orch.run_pipeline_async(pipelines.two_units, run_id="already-there")
    outcomes = await flowyml.aio.run_many(
        [flowyml.aio.remote(slow_orch, pipelines.two_units, run_id="r1", poll_interval=0.05), existing],
        retries=1,
        retry_delay=0.01,
    )
    assert [o.status for o in outcomes] == [S.COMPLETED, S.COMPLETED]
    assert outcomes[0].attempts == 2 and outcomes[0].value.run_id == "r1-retry1"
    assert outcomes[1].value is existing and set(slow_backend.runs) == {"already-there", "r1", "r1-retry1"}


@aio
async def test_a_cancel_that_fails_does_not_hide_the_timeout(slow_backend, slow_orch, monkeypatch):
    slow_backend.duration = 5
    sub = await slow_orch.run_pipeline_async(pipelines.two_units, run_id="no-cancel")

    def refuse(*args, **kwargs):
        raise PermissionError("not allowed to cancel")

    monkeypatch.setattr(sub, "cancel", refuse)
    with pytest.raises(flowyml.aio.RunTimedOutError) as info:
        await sub.wait_async(timeout=0.1, poll_interval=0.05, cancel_on_timeout=True)
    assert info.value.status is S.TIMED_OUT and not info.value.cancelled


@aio
async def test_a_reattached_submission_can_be_awaited(slow_backend, slow_orch):
    sub = await slow_orch.run_pipeline_async(pipelines.two_units, run_id="reattach")
    again = SubmissionResult.from_json(sub.to_json())  # e.g. in another process, from a stored handle
    assert await again.wait_async(poll_interval=0.05) is S.COMPLETED
    assert await flowyml.attach("reattach").wait_async(poll_interval=0.05) is S.COMPLETED
