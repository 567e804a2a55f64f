"""The worked third-party plugin passes flowyml's conformance kit, like every built-in backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowyml.plugins.types import RunHandle
from flowyml.testing import BackendContract, ContractEnv
from flowyml_httpjobs.backend import RUN_LABEL, HttpJobsConfig
from flowyml_httpjobs.server import JobServer

from .conftest import TOKEN


class TestHttpJobs(BackendContract):
    @pytest.fixture
    def contract_env(self, job_server: JobServer, config: HttpJobsConfig, tmp_path: Path) -> ContractEnv:
        def set_native_state(handle: RunHandle, state: str) -> None:
            for name in handle.units.values():
                job_server.force_state(name, state)

        return ContractEnv(
            backend="httpjobs",
            config=config,
            artifact_root=(tmp_path / "artifacts").as_uri(),
            self_executing=True,  # the server runs jobs itself
            set_native_state=set_native_state,
            count_creates=lambda handle: job_server.count_creates(RUN_LABEL, handle.run_id),
            lose_create_answers=lambda count: job_server.faults("submit", count, lost_response=True),
            process_env={"HTTPJOBS_TOKEN": TOKEN},  # the re-attaching process finds the secret in its env
            finish_timeout=60,
        )
