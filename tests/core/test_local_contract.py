"""The embedded local backend passes the same conformance suite as every cloud backend."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

from flowyml.backends.local import paths
from flowyml.backends.local.plugin import LocalConfig
from flowyml.plugins.types import RunHandle
from flowyml.testing import BackendContract, ContractEnv


def _force_state(handle: RunHandle, native: str) -> None:
    """Stop the supervisor and record ``native`` as the run's state."""
    directory = paths.run_dir(handle.run_id)
    pid = paths.supervisor_pid(directory)
    if pid and pid.is_alive():
        pid.kill_group(signal.SIGKILL)
    (directory / "supervisor.pid").unlink(missing_ok=True)
    (directory / "cancel.json").unlink(missing_ok=True)
    paths.write_json(directory / "state.json", {"status": native, "units": {}})


class TestLocalBackendContract(BackendContract):
    @pytest.fixture
    def contract_env(self, tmp_path: Path) -> ContractEnv:
        yield ContractEnv(
            backend="local",
            config=LocalConfig(grace_period=1.0),
            artifact_root=(tmp_path / "artifacts").as_uri(),
            self_executing=True,
            retried_calls=False,
            set_native_state=_force_state,
            finish_timeout=60,
        )
        shutil.rmtree(tmp_path / "artifacts", ignore_errors=True)
