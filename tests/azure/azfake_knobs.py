"""The conformance kit's knobs (``ContractEnv``) implemented on the fake Azure ML."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from azfake_server import FakeAzureML, Fault

from flowyml.plugins.types import RunHandle

JOB = r"/jobs/[^/]+$"
LOG_READS = r"^/(history/.*/(details|children)|logs/.+)$"


def fault_plan(operation: str, count: int) -> list[Fault]:
    """What "the next ``count`` calls of ``operation`` fail transiently" means on Azure ML."""
    if operation == "submit":
        # First throttled before anything happens, then created but the answer is lost: only
        # GET-before-create keeps the retry from making a second job.
        plan = [Fault(429, 1, "PUT", JOB, retry_after=0)]
        if count > 1:
            plan.append(Fault(None, count - 1, "PUT", JOB, after=True))
        return plan
    if operation == "status":
        return [Fault(503, count, "GET", JOB)]
    if operation == "cancel":
        return [Fault(429, count, "POST", r"/cancel$")]  # no Retry-After: azure-core would not retry it
    if operation == "logs":
        return [Fault(503, count, "GET", LOG_READS)]
    raise ValueError(f"unknown operation {operation!r}")


@contextmanager
def inject(fake: FakeAzureML, operation: str, count: int) -> Iterator[list[Fault]]:
    plan = fault_plan(operation, count)
    for fault in plan:
        fake.inject(fault.status, fault.times, method=fault.method, path=fault.path,
                    retry_after=fault.retry_after, after=fault.after)
    added = fake.faults[-len(plan):]
    with fake.faulted(*added):
        yield added


@contextmanager
def lose_creates(fake: FakeAzureML, count: int) -> Iterator[Fault]:
    """The next ``count`` job creates are performed, but their answers become 503s."""
    fault = fake.inject(503, count, method="PUT", path=JOB, after=True)
    with fake.faulted(fault):
        yield fault


def process_env() -> dict[str, str]:
    """What a fresh process needs to rebuild the test credential (``azfake_credential``)."""
    here = str(Path(__file__).parent)
    return {"PYTHONPATH": os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p),
            "NO_PROXY": "127.0.0.1,localhost"}


def count_creates(fake: FakeAzureML, handle: RunHandle) -> int:
    return fake.creates.get(handle.job_id, 0)
