"""AWS polling cost (issue 5): ``describe_jobs`` requests per status round for many runs, counted at moto.

Runs are submitted through the real ``aws_batch`` backend (``AWSBatchOrchestrator.run_pipeline``) to
a moto server on 127.0.0.1 (``bench.moto_server``, a child process) that counts the requests it
receives by operation. One round = one ``get_run_statuses(run_ids)`` over every run; for contrast,
the naive round (``get_run_status`` once per run) is counted too.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from bench.model import CaseResult, Row, skipped
from bench.proc import PYTHON, REPO_ROOT, child_env, isolated_home
from bench.settings import Settings

TITLE = "AWS Batch: describe_jobs requests per polling round (moto, in-process, loopback)"
REGION = "us-east-1"
BUCKET = "flowyml-bench"
OFFLINE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "NO_PROXY": "127.0.0.1,localhost",
    "FLOWYML_BACKEND_RETRY_DELAY": "0.01",
}
SUBMIT_THREADS = 8  # submits in flight (setting up the runs is not what is measured)
CLEARED_ENV = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "HTTP_PROXY", "HTTPS_PROXY", "AWS_REGION")


def available() -> str | None:
    for module in ("flowyml_aws", "flowyml_aws.orchestrators", "boto3", "moto"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
    from flowyml_aws.orchestrators import AWSBatchOrchestrator

    if not hasattr(AWSBatchOrchestrator, "get_run_statuses"):
        return "AWSBatchOrchestrator.get_run_statuses (batched polling) missing"
    return None


class CountingMoto:
    """``bench.moto_server`` in a child process (its own CPU, not this process's GIL)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self.endpoint = ""

    @property
    def launched(self) -> bool:
        return self._proc is not None

    def launch(self, warm: bool = False) -> None:
        """Start the server process; :meth:`wait` reads its port (so start-up can overlap other work)."""
        self._proc = subprocess.Popen(
            [PYTHON, "-m", "bench.moto_server", *(["--warm"] if warm else [])],
            cwd=REPO_ROOT,
            env=child_env(),
            stdout=subprocess.PIPE,
            text=True,
        )

    def wait(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"moto server did not start: {line!r}")
        self.endpoint = f"http://127.0.0.1:{int(line.split()[1])}"
        return self.endpoint

    def start(self) -> str:
        self.launch()
        return self.wait()

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            if self._proc.stdout is not None:
                self._proc.stdout.close()

    def take(self) -> Counter[str]:
        """The requests counted so far, by operation; the server starts again from zero."""
        with urllib.request.urlopen(f"{self.endpoint}/_bench/counts", timeout=30) as response:
            return Counter(json.loads(response.read()))


@contextmanager
def offline_aws_env() -> Iterator[None]:
    """Fake credentials and no profile/proxy/endpoint variables, restored afterwards."""
    saved = {name: os.environ.get(name) for name in (*OFFLINE_ENV, *CLEARED_ENV)}
    for name in CLEARED_ENV:
        os.environ.pop(name, None)
    os.environ.update(OFFLINE_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _moto_config(endpoint: str) -> None:
    """Batch jobs without Docker (moto finishes them at once): the polling cost does not depend on state."""
    body = json.dumps({"batch": {"use_docker": False}}).encode()
    request = urllib.request.Request(f"{endpoint}/moto-api/config", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def _setup(endpoint: str) -> None:
    """A role, an unmanaged compute environment, a queue, a job definition and a bucket in moto."""
    import boto3

    iam = boto3.client("iam", endpoint_url=endpoint, region_name=REGION)
    batch = boto3.client("batch", endpoint_url=endpoint, region_name=REGION)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "batch.amazonaws.com"}}]}  # fmt: skip
    role = iam.create_role(RoleName="bench-batch", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    env_arn = batch.create_compute_environment(
        computeEnvironmentName="bench-ce", type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    batch.create_job_queue(
        jobQueueName="bench-queue", state="ENABLED", priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env_arn}],
    )  # fmt: skip
    batch.register_job_definition(
        jobDefinitionName="bench-step", type="container",
        containerProperties={"image": "example.invalid/flowyml:bench", "command": ["flowyml", "step-runner"],
                             "resourceRequirements": [{"type": "VCPU", "value": "1"},
                                                      {"type": "MEMORY", "value": "2048"}]},
    )  # fmt: skip
    boto3.client("s3", endpoint_url=endpoint, region_name=REGION).create_bucket(Bucket=BUCKET)


_prepared: list[CountingMoto] = []


def prepare(settings: Settings) -> None:
    """Smoke mode only: start (and warm) moto now, so its ~3 s start-up overlaps the other cases.

    Never in a full run, where a busy second core would disturb the other cases' timings.
    """
    if settings.mode == "smoke" and available() is None and not _prepared:
        moto = CountingMoto()
        moto.launch(warm=True)
        atexit.register(moto.stop)  # in case the aws case never runs
        _prepared.append(moto)


def _measure(count: int) -> dict[str, Any]:
    from bench.workloads import first_step
    from flowyml_aws.orchestrators import AWSBatchOrchestrator

    moto = _prepared.pop() if _prepared else CountingMoto()
    if not moto.launched:
        moto.launch()
    endpoint = moto.wait()
    try:
        _moto_config(endpoint)
        _setup(endpoint)
        orchestrator = AWSBatchOrchestrator(
            region=REGION,
            job_queue="bench-queue",
            job_definition="bench-step",
            endpoint_url=endpoint,
            artifact_store=f"s3://{BUCKET}/artifacts",
            store_settings={"endpoint_url": endpoint, "region": REGION},
        )
        moto.take()
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=SUBMIT_THREADS) as pool:
            run_ids = list(pool.map(lambda _: orchestrator.run_pipeline(first_step).run_id, range(count)))
        submit_s = time.perf_counter() - start
        submit_counts = moto.take()
        start = time.perf_counter()
        reports = orchestrator.get_run_statuses(run_ids)
        batched_s = time.perf_counter() - start
        batched = moto.take()
        start = time.perf_counter()
        for run_id in run_ids:
            orchestrator.get_run_status(run_id)
        naive_s = time.perf_counter() - start
        naive = moto.take()
    finally:
        moto.stop()
    if len(reports) != count:
        raise RuntimeError(f"get_run_statuses returned {len(reports)} reports for {count} runs")
    return {
        "runs": count,
        "submit_s": round(submit_s, 2),
        "submit_requests": {k: v for k, v in submit_counts.items() if not k.startswith("PUT ")},
        "submit_s3_puts": sum(v for k, v in submit_counts.items() if k.startswith("PUT ")),
        "batched_round": {"seconds": round(batched_s, 3), "requests": dict(batched)},
        "naive_round": {"seconds": round(naive_s, 3), "requests": dict(naive)},
        "statuses": dict(Counter(r.status.name for r in reports.values())),
    }


def run(settings: Settings) -> CaseResult:
    missing = available()
    if missing:
        return skipped("aws", TITLE, f"{missing}; would poll {settings.aws_runs} runs")
    with offline_aws_env(), isolated_home():
        doc = _measure(settings.aws_runs)
    result = CaseResult("aws", TITLE, details=doc)
    batched, naive = doc["batched_round"], doc["naive_round"]
    result.rows.append(
        Row.of(
            "describe_jobs_per_round",
            f"`describe_jobs` requests to poll {doc['runs']} runs once (`get_run_statuses`)",
            batched["requests"].get("DescribeJobs", 0),
            "calls",
            f"{batched['seconds']} s per round, {sum(batched['requests'].values())} requests in all; one "
            f"`get_run_status` per run instead: {naive['requests'].get('DescribeJobs', 0)} calls, "
            f"{naive['seconds']} s",
        )
    )
    return result
