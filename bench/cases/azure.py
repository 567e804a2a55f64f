"""Azure ML polling cost (issue 12): jobs-list requests per status round for many runs.

Runs are submitted through the real ``azureml`` backend (azure-ai-ml) to the fake Azure ML of
the test suite (``tests/azure/azfake_server.py``, HTTPS on 127.0.0.1, in this process), which
records every request. One round = one ``get_run_statuses(run_ids)`` over every run
(``status_many``: the workspace's job list, filtered to flowyml's jobs by tag, pages of
``PAGE_SIZE``); for contrast, the naive round (``get_run_status`` once per run) is counted too.
One run in five is a two-unit pipeline job, set Running (its units' states live in run history,
which the round does not read); the rest are single-unit command jobs.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.model import CaseResult, Row, skipped
from bench.proc import REPO_ROOT, isolated_home
from bench.settings import Settings

TITLE = "Azure ML: jobs-list requests per polling round (fake Azure ML, in-process, HTTPS loopback)"
FAKES = REPO_ROOT / "tests" / "azure"
PAGE_SIZE = 100
SUBMIT_THREADS = 8
#: one run in five is a two-unit pipeline job (running), the rest single steps
PIPELINE_SHARE = 5


def available() -> str | None:
    for module in ("flowyml_azure", "azure.ai.ml", "cryptography"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
    if not (FAKES / "azfake_server.py").is_file():
        return "tests/azure/azfake_server.py (the fake Azure ML) is missing"
    return None


@contextmanager
def _fakes_importable() -> Iterator[None]:
    sys.path.insert(0, str(FAKES))
    try:
        yield
    finally:
        sys.path.remove(str(FAKES))


def _measure(count: int) -> dict[str, Any]:
    from azfake_infra import make_tls_files
    from azfake_server import FakeAzureML

    from bench.workloads import first_step
    from flowyml.core.resources import DockerConfig
    from flowyml.orchestrators import RemoteOrchestrator
    from flowyml.testing.pipelines import two_units
    from flowyml_azure.config import AzureMLConfig

    fake = FakeAzureML(tls=make_tls_files(Path(tempfile.mkdtemp(prefix="bench-azure-ca-")))).start()
    fake.list_page_size = PAGE_SIZE
    try:
        config = AzureMLConfig(
            subscription_id=fake.subscription_id,
            resource_group=fake.resource_group,
            workspace_name=fake.workspace,
            compute="cpu-cluster",
            credential="azfake_credential:FakeCredential",
            arm_endpoint=fake.base_url,
            ca_bundle=fake.ca_file,
        )
        orchestrator = RemoteOrchestrator(
            backend="azureml",
            config=config,
            artifact_store=(Path(tempfile.mkdtemp(prefix="bench-azure-store-")) / "a").as_uri(),
            store_settings={"shared": "true"},
            docker_config=DockerConfig(image="example.invalid/flowyml:bench"),
        )
        start = time.perf_counter()
        pipelines = max(1, count // PIPELINE_SHARE) if count > 1 else 0
        work = [two_units] * pipelines + [first_step] * (count - pipelines)
        with ThreadPoolExecutor(max_workers=SUBMIT_THREADS) as pool:
            run_ids = list(pool.map(lambda p: orchestrator.run_pipeline(p).run_id, work))
        submit_s = time.perf_counter() - start
        for run_id in run_ids[:pipelines]:
            fake.set_state(run_id, "Running")

        def counted(fn: Any) -> tuple[Any, float, Counter[str]]:
            before = len(fake.requests)
            began = time.perf_counter()
            value = fn()
            seconds = time.perf_counter() - began
            calls = Counter(
                "list jobs"
                if r.path.endswith("/jobs")
                else "get job"
                if "/jobs/" in r.path
                else r.path.rsplit("/", 1)[-1]
                for r in fake.requests[before:]
            )
            return value, seconds, calls

        reports, batched_s, batched = counted(lambda: orchestrator.get_run_statuses(run_ids))
        _, naive_s, naive = counted(lambda: [orchestrator.get_run_status(r) for r in run_ids])
    finally:
        fake.close()
    if len(reports) != count:
        raise RuntimeError(f"get_run_statuses returned {len(reports)} reports for {count} runs")
    return {
        "runs": count,
        "pipeline_runs": pipelines,
        "page_size": PAGE_SIZE,
        "target_calls": math.ceil(count / PAGE_SIZE),
        "submit_s": round(submit_s, 2),
        "batched_round": {"seconds": round(batched_s, 3), "requests": dict(batched)},
        "naive_round": {"seconds": round(naive_s, 3), "requests": dict(naive)},
        "statuses": dict(Counter(r.status.value for r in reports.values())),
    }


def run(settings: Settings) -> CaseResult:
    missing = available()
    if missing:
        return skipped("azure", TITLE, f"{missing}; would poll {settings.azure_runs} runs")
    with isolated_home(), _fakes_importable():
        doc = _measure(settings.azure_runs)
    result = CaseResult("azure", TITLE, details=doc)
    batched, naive = doc["batched_round"], doc["naive_round"]
    result.rows.append(
        Row.of(
            "azureml_list_calls_per_round",
            f"Azure ML requests to poll {doc['runs']} runs once (`get_run_statuses`, pages of {PAGE_SIZE}; "
            f"{doc['pipeline_runs']} running pipeline jobs)",
            sum(batched["requests"].values()),
            "calls",
            f"{batched['seconds']} s per round ({dict(batched['requests'])}); target ceil(N / page size) = "
            f"{doc['target_calls']}; one `get_run_status` per run instead: {sum(naive['requests'].values())} "
            f"requests, {naive['seconds']} s",
        )
    )
    return result
