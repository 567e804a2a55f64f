"""The Ray benchmark's measurements run on the test cluster (``python -m bench --smoke`` skips the case).

Only their shape is checked: their timings depend on the machine's load (tests/ray/test_e2e.py proves concurrency).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tests.ray.conftest import REPO

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.cases import ray as case


def test_the_bench_measurements_run(ray_cluster: Any, tmp_path: Path, monkeypatch: Any) -> None:
    from flowyml.stacks.ray import RayOrchestrator

    monkeypatch.setenv("FLOWYML_HOME", str(tmp_path / "home"))
    orchestrator = RayOrchestrator(address=ray_cluster.address, artifact_store=(tmp_path / "a").as_uri())
    first = case._first_running(orchestrator, "bench-test-first")
    assert 0 < first["submit_s"] <= first["status_running_s"]
    assert first["driver_started_s"] <= first["task_started_s"]
    fan = case._fan_out(orchestrator, "bench-test-fan")
    assert fan["status"] == "COMPLETED" and fan["nodes"] in (1, 2) and isinstance(fan["overlap_s"], float)
    assert fan["wall_s"] >= case.UNIT_SECONDS
    assert case._plain_ray(ray_cluster.address, "bench-test-plain") >= case.UNIT_SECONDS
