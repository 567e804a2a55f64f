"""Fixtures for flowyml-aws: moto server (in-process, loopback, reset per test), the fault proxy in
front of it, the fake's knobs, configs for both backends, and an S3 artifact root in moto."""

from __future__ import annotations

import importlib.util
import logging
import os
import warnings
from collections.abc import Iterator

import pytest

_MISSING = [m for m in ("flowyml_aws", "boto3", "moto", "flask") if importlib.util.find_spec(m) is None]
if _MISSING:
    collect_ignore_glob = ["test_*.py"]
    warnings.warn(f"tests/aws skipped: missing {', '.join(_MISSING)} (pip install -e '.[dev]')", stacklevel=1)
else:
    from tests.aws.fake_aws import REGION, AwsFake, direct_client, reset_moto, setup_batch
    from tests.aws.fault_proxy import FaultProxy

BUCKET = "flowyml-test"
#: variables that could send boto3 to real AWS or a proxy
_CLOUD_ENV = (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_BATCH",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "MOTO_SIMPLE_BATCH_FAIL_AFTER",
    "AWS_REGION",
)
OFFLINE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION if not _MISSING else "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "FLOWYML_BACKEND_RETRY_DELAY": "0.01",
    "FLOWYML_LOG_POLL_INTERVAL": "0.1",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/aws/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.aws)


@pytest.fixture(autouse=True)
def _offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowyml.testing import egress

    egress.install()  # idempotent; the root conftest installs it too — these tests must never leave 127.0.0.1
    for name in _CLOUD_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in OFFLINE_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def _proxy(moto_server: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_server)
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def fake(moto_server: str, _proxy: FaultProxy, _offline_aws: None) -> Iterator[AwsFake]:
    """A freshly reset moto with a queue, a job definition and a bucket, behind the proxy."""
    reset_moto(moto_server)
    _proxy.reset()
    setup_batch(moto_server)
    direct_client("s3", moto_server).create_bucket(Bucket=BUCKET)
    fake = AwsFake(moto_server, _proxy)
    yield fake
    fake.join()


@pytest.fixture
def store_settings(fake: AwsFake) -> dict[str, str]:
    return {"endpoint_url": fake.moto, "region": REGION}


@pytest.fixture
def artifact_root() -> str:
    return f"s3://{BUCKET}/artifacts"


@pytest.fixture
def batch_config(fake: AwsFake):
    from flowyml_aws.config import AWSBatchConfig

    return AWSBatchConfig(
        region=REGION, endpoint_url=fake.proxy.endpoint, job_queue="flowyml-queue", job_definition="flowyml-step"
    )


@pytest.fixture
def sagemaker_config(fake: AwsFake):
    from flowyml_aws.config import SageMakerConfig

    return SageMakerConfig(
        region=REGION,
        endpoint_url=fake.proxy.endpoint,
        role_arn="arn:aws:iam::123456789012:role/flowyml-sagemaker",
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/flowyml:1",
    )
