"""``poll_interval`` is honoured whatever the backend: core polls (sync and async), backends never loop.

A backend registered in code records when core asks for the status; the pauses between asks
follow ``wait_for_completion(poll_interval=...)`` / ``wait_async(poll_interval=...)``.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators import RemoteOrchestrator
from flowyml.plugins import Backend, RunHandle, StatusReport
from flowyml.plugins.manager import get_plugin_manager
from flowyml.testing import pipelines

JITTER = 0.2  # flowyml.plugins.polling.Backoff's default: each pause is within ±20 % of the delay


class ClockBackend(Backend):
    """A run that completes ``duration`` seconds after submit; every status call is timed."""

    name = "clock"
    native_states = {"RUNNING": ExecutionStatus.RUNNING, "DONE": ExecutionStatus.COMPLETED}

    def __init__(self) -> None:
        self.duration = 2.0
        self.asked: list[float] = []
        self.started: dict[str, float] = {}
        self.lock = threading.Lock()

    def submit(self, spec, config):
        self.started[spec.run_id] = time.monotonic()
        return RunHandle(backend=self.name, run_id=spec.run_id, job_id=f"clock-{spec.run_id}")

    def status(self, handle, config):
        now = time.monotonic()
        with self.lock:
            self.asked.append(now)
        state = "DONE" if now - self.started[handle.run_id] >= self.duration else "RUNNING"
        return StatusReport(self.native_states[state], native_state=state)


@pytest.fixture
def clock() -> Iterator[ClockBackend]:
    backend = ClockBackend()
    pm = get_plugin_manager()
    pm.register_backend(backend, name="clock-test")
    yield backend
    pm.unregister("clock-test")


def _gaps(asked: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(asked)]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_waiting_polls_no_more_often_than_poll_interval(clock: ClockBackend, tmp_path: Path, mode: str) -> None:
    orch = RemoteOrchestrator(backend="clock", artifact_store=(tmp_path / "art").as_uri())
    for poll in (0.1, 0.5):
        clock.asked.clear()
        sub = orch.run_pipeline(pipelines.two_units, run_id=f"clock-{mode}-{poll}")
        if mode == "sync":
            final = sub.wait_for_completion(timeout=30, poll_interval=poll)
        else:
            final = asyncio.run(sub.wait_async(timeout=30, poll_interval=poll))
        assert final is ExecutionStatus.COMPLETED
        gaps = _gaps(clock.asked)
        # the pauses start at 0.2 s (or poll_interval if smaller) and grow by 1.5x up to poll_interval
        delays = [min(poll, min(0.2, poll) * 1.5**k) for k in range(len(gaps))]
        assert delays[-1] == poll, f"the run ended before the pauses reached poll_interval={poll}: {gaps}"
        for gap, delay in zip(gaps, delays, strict=True):
            assert gap >= delay * (1 - JITTER) * 0.95, f"poll_interval={poll}: asked again after {gap:.3f}s: {gaps}"
        assert len(clock.asked) <= clock.duration / (min(poll, 0.2) * (1 - JITTER)) + 2, len(clock.asked)
    assert len(clock.asked) < 12, "poll_interval=0.5 asked as often as poll_interval=0.1"
