"""The conformance kit's knobs (``ContractEnv``) implemented on the fake Azure ML.

Transient faults come from core (``flowyml.plugins.retry.inject_faults``): every Azure call goes
through ``call_with_retry``. Lost create answers need the service: the fake performs the create
and then fails its answer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from azfake_server import FakeAzureML, Fault

from flowyml.plugins.types import RunHandle

JOB = r"/jobs/[^/]+$"


@contextmanager
def lose_creates(fake: FakeAzureML, count: int) -> Iterator[Fault]:
    """The next ``count`` job creates are performed, but their answers become 503s."""
    fault = fake.inject(503, count, method="PUT", path=JOB, after=True)
    with fake.faulted(fault):
        yield fault


def process_env() -> dict[str, str]:
    """What a fresh process needs to rebuild the test credential (``azfake_credential``)."""
    here = str(Path(__file__).parent)
    return {
        "PYTHONPATH": os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p),
        "NO_PROXY": "127.0.0.1,localhost",
    }


def count_creates(fake: FakeAzureML, handle: RunHandle) -> int:
    return fake.creates.get(handle.job_id, 0)
