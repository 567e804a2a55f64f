"""The CLI maps exception *types* to exit codes (docs/cli.md), one line each, never a traceback.

A backend registered in code raises what a plugin might (flowyml's typed errors with misleading
texts, raw SDK-style exceptions); the command's exit code follows the type, not the words.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from flowyml.cli.main import main as cli
from flowyml.core.errors import (
    AuthError,
    ConfigError,
    RefusedError,
    RunNotFoundError,
    TransientBackendError,
    UnknownBackendError,
)
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators import RemoteOrchestrator
from flowyml.plugins import Backend, LogRecord, RunHandle, StatusReport
from flowyml.plugins.manager import get_plugin_manager
from flowyml.testing import pipelines


@attrs.define(frozen=True)
class FaultyConfig:
    region: str = "nowhere"


class AccessDeniedException(Exception):
    """Shaped like an SDK's error: a code and a multi-line message."""


class FaultyBackend(Backend):
    """Submits into memory; every later operation raises ``self.error`` when it is set."""

    name = "faulty"
    config_class = FaultyConfig
    native_states = {"RUNNING": ExecutionStatus.RUNNING, "CANCELLED": ExecutionStatus.CANCELLED}

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.cancel_failures = 0
        self.cancelled: set[str] = set()

    def _fail(self) -> None:
        if self.error is not None:
            raise self.error

    def submit(self, spec, config):
        return RunHandle(backend=self.name, run_id=spec.run_id, job_id=f"faulty-{spec.run_id}")

    def status(self, handle, config):
        self._fail()
        state = "CANCELLED" if handle.run_id in self.cancelled else "RUNNING"
        return StatusReport(self.native_states[state], native_state=state)

    def cancel(self, handle, config, graceful):
        self._fail()
        if self.cancel_failures:
            self.cancel_failures -= 1
            raise TransientBackendError("the service is throttling cancels (fake)")
        self.cancelled.add(handle.run_id)
        return True

    def logs(self, handle, config, cursor) -> Iterator[LogRecord]:
        self._fail()
        yield LogRecord(timestamp=1.0, message="hello", cursor="1")


@pytest.fixture
def faulty() -> Iterator[FaultyBackend]:
    backend = FaultyBackend()
    pm = get_plugin_manager()
    pm.register_backend(backend, name="faulty-test")
    yield backend
    pm.unregister("faulty-test")


@pytest.fixture
def run_id(faulty: FaultyBackend, tmp_path: Path) -> str:
    orch = RemoteOrchestrator(backend="faulty", config=FaultyConfig(), artifact_store=(tmp_path / "art").as_uri())
    return orch.run_pipeline(pipelines.two_units, run_id="faulty-run").run_id


@pytest.mark.parametrize(
    ("error", "code", "prefix"),
    [
        # texts that would fool a text match: the type decides
        (AuthError("unknown backend 'faulty': set FAULTY_TOKEN"), 5, "the backend refused our credentials: "),
        (UnknownBackendError("no such thing here"), 3, ""),
        (RunNotFoundError("the service refused to say"), 3, ""),
        (TransientBackendError("access denied by the proxy (503)"), 4, "the backend could not be reached"),
        (RefusedError("not found: quota exceeded"), 5, "the backend refused the request: "),
        (ConfigError("the backend could not be reached"), 2, ""),
        # not flowyml errors: core wraps them in a BackendError naming the plugin and operation
        (AccessDeniedException("User: arn:aws:iam::1:user/x is not authorized\nto perform batch:DescribeJobs"), 5, ""),
        (KeyError("JobStatus"), 5, "the backend failed: faulty status failed in plugin 'faulty-test': KeyError"),
        (RuntimeError(), 5, "the backend failed: faulty status failed in plugin 'faulty-test': RuntimeError\n"),
    ],
)
def test_the_exit_code_follows_the_error_type_not_its_text(
    faulty: FaultyBackend, run_id: str, capsys: pytest.CaptureFixture[str], error: BaseException, code: int, prefix: str
) -> None:
    faulty.error = error
    capsys.readouterr()
    assert cli(["status", run_id]) == code
    err = capsys.readouterr().err
    assert err.startswith(f"flowyml: {prefix}"), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("command", [["logs", "faulty-run"], ["cancel", "faulty-run"], ["logs", "-f", "faulty-run"]])
def test_every_command_maps_a_raw_backend_error_to_exit_5_in_one_line(
    faulty: FaultyBackend, run_id: str, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    faulty.error = AccessDeniedException("AccessDeniedException: not allowed\n  (request id 42)")
    capsys.readouterr()
    assert cli(command) == 5
    err = capsys.readouterr().err
    assert "AccessDeniedException" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_an_async_cancel_that_fails_transiently_is_asked_again_within_the_grace(faulty: FaultyBackend, run_id: str):
    """A cancelled ``wait_async`` stops the run even when the first cancels fail transiently
    (core's poll helper asks again); when the failures outlast the grace, it says so."""
    from flowyml.orchestrators.asyncops import _stop_and_confirm
    from flowyml.orchestrators.remote import attach

    sub = attach(run_id)
    faulty.cancel_failures = 2
    assert asyncio.run(_stop_and_confirm(sub, 10.0, 0.01)) is ExecutionStatus.CANCELLED
    assert faulty.cancel_failures == 0 and run_id in faulty.cancelled

    faulty.cancelled.clear()
    faulty.cancel_failures = 10_000
    with pytest.raises(TransientBackendError, match=r"could not be asked to cancel within 0\.2s"):
        asyncio.run(_stop_and_confirm(sub, 0.2, 0.01))
    assert run_id not in faulty.cancelled
