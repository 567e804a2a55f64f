"""Fixtures for flowyml-ray: one real two-node Ray cluster on 127.0.0.1 for the whole session.

Ray binds every interface of the machine, which tests must never use, so these tests only run
inside a loopback-only network namespace with its own PID namespace — ``scripts/test`` runs them as

    unshare -n -p -f --mount-proc sh -c 'ip link set lo up && exec .venv/bin/python -m pytest tests/ray'

There the cluster's processes are the session's alone (stopped by PID; the namespace ends them all
when pytest, its PID 1, exits). Anywhere else the tests that need the cluster are skipped, with
that command as the reason.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ISOLATE = "unshare -n -p -f --mount-proc sh -c 'ip link set lo up && exec .venv/bin/python -m pytest tests/ray'"
_MISSING = [m for m in ("flowyml_ray", "ray") if importlib.util.find_spec(m) is None]

if _MISSING:
    collect_ignore_glob = ["test_*.py"]
    warnings.warn(f"tests/ray skipped: missing {', '.join(_MISSING)} (scripts/setup installs them)", stacklevel=1)
    _REASON = None
else:
    from flowyml_ray.testing import isolated

    _REASON = None if isolated() else f"Ray tests run in a loopback-only namespace: {ISOLATE}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ray/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.ray)
            if _REASON and "ray_cluster" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.skip(reason=_REASON))


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[object]:
    """A head and one worker node (2 logical CPUs each) with the Jobs API on 127.0.0.1:8265."""
    from flowyml_ray.testing import RayTestCluster

    root = Path(tempfile.mkdtemp(prefix="fr", dir="/tmp"))  # short: Ray's socket paths must stay < 108 bytes
    cluster = RayTestCluster(root, cpus=2, cwd=REPO)
    try:
        cluster.start()
    except BaseException:
        cluster.stop(grace=3)
        raise
    yield cluster
    cluster.stop(grace=5)


@pytest.fixture(autouse=True)
def _ray_test_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowyml.testing import egress

    egress.install()  # the namespace has no other interface; the guard says so loudly if one appears
    for name in ("RAY_ADDRESS", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("FLOWYML_BACKEND_RETRY_DELAY", "0.01")


@pytest.fixture
def ray_config(ray_cluster: object) -> object:
    from flowyml_ray.config import RayConfig

    return RayConfig(address=ray_cluster.address, log_poll_interval=0.2)  # type: ignore[attr-defined]
