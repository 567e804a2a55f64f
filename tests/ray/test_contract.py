"""The conformance kit against a real two-node Ray cluster (the Jobs API on 127.0.0.1).

The kit talks to the cluster through a loopback proxy that can lose the answers to job
submissions (Ray still creates the job), to prove a retried submit finds it instead of making a second,
and that can force a job's state in Ray's answers, to walk the state table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
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


def native_state_setter(cluster: Any, proxy: LossyProxy, artifacts: Path) -> Callable[[RunHandle, str], None]:
    """Force a run into a native state: once its real job ended (its driver writes nothing more), the proxy
    answers the forced Ray job state, and the store holds the refinement flowyml adds (a cancel request,
    the driver's timed-out verdict) or not."""
    from flowyml.artifacts.store import ArtifactStore
    from flowyml_ray import progress
    from flowyml_ray.client import job_info
    from flowyml_ray.config import RayConfig
    from flowyml_ray.states import FINISHED, STOP_REQUESTED, TIMED_OUT

    direct = RayConfig(address=cluster.address)

    def set_native_state(handle: RunHandle, native: str) -> None:
        deadline = time.monotonic() + 120
        while str(job_info(direct, handle.job_id).status) not in ("SUCCEEDED", "FAILED", "STOPPED"):
            assert time.monotonic() < deadline, f"{handle.job_id} did not end"
            time.sleep(0.2)
        state, _, refinement = native.partition("/")
        store = ArtifactStore(artifacts.as_uri())
        stop = artifacts / progress.stop_key(handle.run_id)
        if refinement == STOP_REQUESTED and not stop.exists():
            progress.request_stop(store, handle.run_id, graceful=True)
        elif refinement != STOP_REQUESTED:
            stop.unlink(missing_ok=True)
        doc = progress.read_progress(store, handle.run_id)
        verdict = {TIMED_OUT: "TIMED_OUT", FINISHED: "SUCCEEDED"}.get(refinement, state)
        progress.write_progress(store, handle.run_id, {**doc, "state": verdict})
        proxy.forced[handle.job_id] = state

    return set_native_state


class TestRayContract(BackendContract):
    @pytest.fixture
    def contract_env(self, ray_cluster: Any, lossy_proxy: Any, tmp_path: Path) -> Iterator[ContractEnv]:
        from flowyml_ray.config import RayConfig

        config = RayConfig(address=lossy_proxy.address, log_poll_interval=0.2)
        artifacts = tmp_path / "artifacts"
        yield ContractEnv(
            backend="ray",
            config=config,
            artifact_root=artifacts.as_uri(),
            self_executing=True,
            count_creates=lambda handle: count_creates(config, handle),
            lose_create_answers=lossy_proxy.lose,
            set_native_state=native_state_setter(ray_cluster, lossy_proxy, artifacts),
            finish_timeout=120.0,
        )
        lossy_proxy.forced.clear()
