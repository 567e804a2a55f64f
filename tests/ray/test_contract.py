"""The conformance kit against a real two-node Ray cluster (the Jobs API on 127.0.0.1)."""

from __future__ import annotations

from typing import Any

import pytest

from flowyml.plugins.types import RunHandle
from flowyml.testing import BackendContract, ContractEnv


def count_creates(config: Any, handle: RunHandle) -> int:
    """How many Ray jobs the cluster holds for this run (by the run id flowyml puts in their metadata)."""
    from flowyml_ray.client import client_for

    return sum(1 for job in client_for(config).list_jobs() if (job.metadata or {}).get("flowyml_run_id") == handle.run_id)


class TestRayContract(BackendContract):
    @pytest.fixture
    def contract_env(self, ray_config: Any, tmp_path: Any) -> ContractEnv:
        return ContractEnv(
            backend="ray",
            config=ray_config,
            artifact_root=(tmp_path / "artifacts").as_uri(),
            self_executing=True,
            count_creates=lambda handle: count_creates(ray_config, handle),
            finish_timeout=120.0,
        )
