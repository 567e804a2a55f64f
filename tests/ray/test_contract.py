"""The conformance kit against a real two-node Ray cluster (the Jobs API on 127.0.0.1).

The kit talks to the cluster through a loopback proxy that can lose the answers to job
submissions (Ray still creates the job), to prove a retried submit finds it instead of making a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flowyml.plugins.types import RunHandle
from flowyml.testing import BackendContract, ContractEnv
from tests.ray.lossy_proxy import LossyProxy


def count_creates(config: Any, handle: RunHandle) -> int:
    """How many Ray jobs the cluster holds for this run (by the run id flowyml puts in their metadata)."""
    from flowyml_ray.client import client_for

    jobs = client_for(config).list_jobs()
    return sum(1 for job in jobs if (job.metadata or {}).get("flowyml_run_id") == handle.run_id)


@pytest.fixture(scope="module")
def lossy_proxy(ray_cluster: Any) -> Iterator[LossyProxy]:
    proxy = LossyProxy(ray_cluster.address)
    proxy.address = proxy.start()  # type: ignore[attr-defined]
    yield proxy
    proxy.stop()


class TestRayContract(BackendContract):
    @pytest.fixture
    def contract_env(self, lossy_proxy: Any, tmp_path: Any) -> ContractEnv:
        from flowyml_ray.config import RayConfig

        config = RayConfig(address=lossy_proxy.address, log_poll_interval=0.2)
        return ContractEnv(
            backend="ray",
            config=config,
            artifact_root=(tmp_path / "artifacts").as_uri(),
            self_executing=True,
            count_creates=lambda handle: count_creates(config, handle),
            lose_create_answers=lossy_proxy.lose,
            finish_timeout=120.0,
        )
