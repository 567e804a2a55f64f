"""Vertex AI polling cost (issue 12): list calls per status round for many runs, counted at the fake.

Runs are submitted through the real ``vertex_ai`` backend (``VertexAIOrchestrator.run_pipeline``:
one CustomJob per single-unit run, one PipelineJob per multi-unit run) to the fake Vertex AI server
of ``tests/gcp`` on 127.0.0.1. One round = one ``get_run_statuses(run_ids)`` over every run, which
lists the jobs by their run-key label, 100 runs per call; for contrast, the naive round
(``get_run_status`` once per run: one GET each) is counted too.
"""

from __future__ import annotations

import importlib.util
import math
import os
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.model import CaseResult, Row, skipped
from bench.proc import isolated_home
from bench.settings import Settings

TITLE = "Vertex AI: list requests per polling round (fake Vertex AI, in-process, loopback)"
SUBMIT_THREADS = 8
#: one run in five is a two-unit pipeline (a PipelineJob), the rest single steps (CustomJobs)
PIPELINE_SHARE = 5


def available() -> str | None:
    for module in ("flowyml_gcp", "google.cloud.aiplatform_v1", "kfp", "tests.gcp.fake_vertex"):
        try:
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed"
        except ModuleNotFoundError:
            return f"{module} is not importable"
    return None


def _measure(count: int) -> dict[str, Any]:
    from bench.workloads import first_step
    from flowyml.core.resources import DockerConfig
    from flowyml.testing.pipelines import two_units
    from flowyml_gcp import jobs
    from flowyml_gcp.orchestrators import VertexAIOrchestrator
    from tests.gcp.fake_vertex import FakeVertex

    fake = FakeVertex().start()
    try:
        with tempfile.TemporaryDirectory(prefix="flowyml-bench-vertex-") as tmp:
            orchestrator = VertexAIOrchestrator(
                project_id="flowyml-bench",
                region="us-central1",
                staging_bucket="gs://flowyml-bench",
                api_endpoint=fake.url,
                artifact_store=Path(tmp).as_uri(),
                store_settings={"shared": "true"},  # the bench's jobs never run: a local store is enough
                docker_config=DockerConfig(image="example.invalid/flowyml:bench"),
            )
            pipelines = max(1, count // PIPELINE_SHARE) if count > 1 else 0
            work = [two_units] * pipelines + [first_step] * (count - pipelines)
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=SUBMIT_THREADS) as pool:
                run_ids = list(pool.map(lambda p: orchestrator.run_pipeline(p).run_id, work))
            submit_s = time.perf_counter() - start
            fake.reset_requests()
            start = time.perf_counter()
            reports = orchestrator.get_run_statuses(run_ids)
            batched_s = time.perf_counter() - start
            batched = Counter(r.operation for r in fake.calls())
            fake.reset_requests()
            start = time.perf_counter()
            for run_id in run_ids:
                orchestrator.get_run_status(run_id)
            naive_s = time.perf_counter() - start
            naive = Counter(r.operation for r in fake.calls())
    finally:
        fake.stop()
    if len(reports) != count:
        raise RuntimeError(f"get_run_statuses returned {len(reports)} reports for {count} runs")
    return {
        "runs": count,
        "custom_jobs": count - pipelines,
        "pipeline_jobs": pipelines,
        "page_size": jobs.LIST_PAGE_SIZE,
        "page_bound": math.ceil(count / jobs.LIST_PAGE_SIZE),
        "submit_s": round(submit_s, 2),
        "batched_round": {"seconds": round(batched_s, 3), "requests": dict(batched)},
        "naive_round": {"seconds": round(naive_s, 3), "requests": dict(naive)},
        "statuses": dict(Counter(r.status.value for r in reports.values())),
    }


def run(settings: Settings) -> CaseResult:
    missing = available()
    if missing:
        return skipped("vertex", TITLE, f"{missing}; would poll {settings.aws_runs} runs")
    saved = {k: os.environ.get(k) for k in ("NO_PROXY", "no_proxy")}
    os.environ.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    try:
        with isolated_home():
            doc = _measure(settings.aws_runs)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    result = CaseResult("vertex", TITLE, details=doc)
    batched, naive = doc["batched_round"], doc["naive_round"]
    result.rows.append(
        Row.of(
            "vertex_list_calls_per_round",
            f"list requests to poll {doc['runs']} runs once (`get_run_statuses`; "
            f"{doc['custom_jobs']} CustomJobs, {doc['pipeline_jobs']} PipelineJobs)",
            batched["requests"].get("list", 0),
            "calls",
            f"ceil({doc['runs']} / {doc['page_size']}) = {doc['page_bound']}; {batched['seconds']} s per round, "
            f"{sum(batched['requests'].values())} requests in all; one `get_run_status` per run instead: "
            f"{naive['requests'].get('get', 0)} GETs, {naive['seconds']} s",
        )
    )
    return result
