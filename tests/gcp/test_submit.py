"""Submission: what reaches Vertex AI for a 4-unit DAG (PipelineJob) and a single unit (CustomJob)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from flowyml.core.errors import BackendError, ConfigError
from flowyml.core.status import ExecutionStatus
from flowyml.plugins.types import JobSpec
from tests.gcp import gcp_pipelines as P
from tests.gcp.conftest import IMAGE, KMS, NETWORK, SA
from tests.gcp.helpers import executor_of, orchestrator


def _kfp_temp_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("flowyml-kfp-*")}


def test_four_unit_dag_becomes_one_pipeline_job_with_the_real_graph(fake, config, store_settings, bucket) -> None:
    before_tmp, before_cwd = _kfp_temp_dirs(), set(os.listdir("."))
    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.dag4, run_id="dag4-run-1", timeout=1800, labels={"Team": "ML Research"})

    [create] = fake.calls("create")
    assert create.path == "/v1/projects/flowyml-test/locations/us-central1/pipelineJobs"
    from flowyml_gcp.names import pipeline_job_id

    assert create.query["pipelineJobId"] == [pipeline_job_id("dag4-run-1")]
    assert create.query["pipelineJobId"][0].startswith("flowyml-dag4-run-1-")
    body = create.body
    assert body["serviceAccount"] == SA
    assert body["network"] == NETWORK
    assert body["encryptionSpec"] == {"kmsKeyName": KMS}
    assert body["runtimeConfig"]["gcsOutputDirectory"] == f"gs://{bucket}/pipeline-root"
    labels = body["labels"]
    assert labels["flowyml-run"] == "dag4-run-1" and labels["flowyml-pipeline"] == "gcp-dag4"
    assert labels["team"] == "ml-research"  # sanitized to GCP label rules
    assert "templateUri" not in body  # the compiled spec travels inline

    spec = body["pipelineSpec"]
    tasks = spec["root"]["dag"]["tasks"]
    assert {t["taskInfo"]["name"] for t in tasks.values()} == {"load", "featurize", "train", "report"}
    key = sub.handle.metadata["tasks"]
    assert sorted(tasks[key["featurize"]]["dependentTasks"]) == [key["load"]]
    assert sorted(tasks[key["train"]]["dependentTasks"]) == [key["featurize"]]
    assert sorted(tasks[key["report"]]["dependentTasks"]) == sorted([key["load"], key["train"]])
    assert "dependentTasks" not in tasks[key["load"]]
    assert all(t["cachingOptions"] == {} or t["cachingOptions"].get("enableCache") is False for t in tasks.values())

    job_spec = JobSpec.from_dict(json.loads(_read_gcs(store_settings, sub.handle.artifact_root, sub.run_id)))
    for unit in ("load", "featurize", "train", "report"):
        container = executor_of(spec, key[unit])
        assert container["image"] == IMAGE
        assert container["command"] == job_spec.unit_command(unit)
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env == job_spec.unit_env(unit)
        assert env["FLOWYML_UNIT"] == unit and env["FLOWYML_RUN_ID"] == "dag4-run-1"
        assert json.loads(env["FLOWYML_STORE_SETTINGS"]) == store_settings
    train = executor_of(spec, key["train"])["resources"]
    assert train["resourceCpuLimit"] == "8" and train["resourceMemoryLimit"] == "30Gi"
    assert train["accelerator"]["resourceType"] == "NVIDIA_TESLA_T4"
    assert str(train["accelerator"]["resourceCount"]) == "2"
    featurize = executor_of(spec, key["featurize"])["resources"]
    assert featurize["resourceCpuLimit"] == "4" and featurize["resourceMemoryLimit"] == "16Gi"
    assert "accelerator" not in featurize

    # the handle: one job for the run, one native id per unit, a timeout flowyml enforces
    assert sub.job_id == fake.jobs[sub.job_id]["name"]
    assert set(sub.handle.units) == {"load", "featurize", "train", "report"}
    assert sub.handle.metadata["kind"] == "pipeline_job" and sub.handle.metadata["timeout_seconds"] == 1800
    assert "pipelines/runs/" in sub.handle.metadata["console_url"]
    # the compiled YAML lived in a private temp dir that is gone; nothing was left in the cwd
    assert _kfp_temp_dirs() == before_tmp
    assert set(os.listdir(".")) == before_cwd


def _read_gcs(settings: dict[str, str], root: str, run_id: str) -> str:
    from flowyml_gcp.store import GCSStorage

    return GCSStorage(root, settings).read_bytes(f"runs/{run_id}/job.json").decode()


def test_single_unit_becomes_one_custom_job(fake, config, store_settings, bucket) -> None:
    from google.cloud.aiplatform_v1 import AcceleratorType, CustomJob

    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.single, run_id="single-1", timeout=600)
    [create] = fake.calls("create")
    assert create.path == "/v1/projects/flowyml-test/locations/us-central1/customJobs"
    job = CustomJob.from_json(json.dumps(create.body))  # decode exactly as the SDK would
    pool = job.job_spec.worker_pool_specs[0]
    assert pool.container_spec.image_uri == IMAGE
    assert pool.container_spec.command[:2] == ["flowyml", "step-runner"]
    assert list(pool.container_spec.command[-2:]) == ["--unit", "answer"]
    env = {e.name: e.value for e in pool.container_spec.env}
    assert env["FLOWYML_UNIT"] == "answer" and env["FLOWYML_RUN_ID"] == "single-1"
    assert pool.machine_spec.machine_type == "n1-standard-4"
    assert pool.machine_spec.accelerator_type == AcceleratorType.ACCELERATOR_TYPE_UNSPECIFIED
    assert pool.replica_count == 1 and pool.disk_spec.boot_disk_size_gb == 100
    assert job.job_spec.service_account == SA and job.job_spec.network == NETWORK
    assert job.job_spec.scheduling.timeout.total_seconds() == 600
    assert job.job_spec.base_output_directory.output_uri_prefix == f"gs://{bucket}/runs/single-1/answer"
    assert job.encryption_spec.kms_key_name == KMS
    assert job.labels["flowyml-run"] == "single-1" and job.labels["flowyml-unit"] == "answer"
    assert sub.handle.metadata["kind"] == "custom_job"
    assert sub.handle.units == {"answer": sub.job_id}
    assert orch.get_run_status(sub.job_id) is ExecutionStatus.PROVISIONING


def test_gpu_unit_gets_a_machine_with_an_accelerator(fake, config, store_settings) -> None:
    orchestrator(config, store_settings).run_pipeline(P.gpu, run_id="gpu-1")
    machine = fake.calls("create")[0].body["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]
    from google.cloud.aiplatform_v1 import AcceleratorType

    assert machine == {
        "machineType": "n1-standard-8",
        "acceleratorType": AcceleratorType.NVIDIA_TESLA_T4,
        "acceleratorCount": 2,
    }


def test_resubmitting_a_run_finds_its_pipeline_job_instead_of_creating_another(fake, config, store_settings):
    orch = orchestrator(config, store_settings)
    first = orch.run_pipeline(P.dag4, run_id="again-1")
    second = orch.run_pipeline(P.dag4, run_id="again-1")
    assert second.job_id == first.job_id and second.handle.units == first.handle.units
    assert len(fake.calls("create")) == 1


def test_a_conflict_on_create_fetches_the_job_we_made(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    first = orch.run_pipeline(P.dag4, run_id="conflict-1")
    with fake.faults_for("get", 1, status=404):  # the lookup misses it, so we create -> 409 -> get
        second = orch.run_pipeline(P.dag4, run_id="conflict-1")
    assert second.job_id == first.job_id
    assert [r.status for r in fake.calls("create")] == [200, 409]
    assert len([n for n in fake.jobs if "/pipelineJobs/" in n]) == 1


def test_create_faults_before_and_after_commit_make_exactly_one_pipeline_job(fake, config, store_settings):
    from flowyml_gcp.names import run_key

    orch = orchestrator(config, store_settings)
    with fake.faults_for("submit", 2, alternate_commit=True):
        sub = orch.run_pipeline(P.dag4, run_id="flaky-create-1")
    assert [(r.status, r.fault) for r in fake.calls("create")] == [(503, True), (503, True)]
    assert fake.jobs_for_run(run_key("flaky-create-1")) == [sub.job_id]
    assert orch.get_run_status(sub.job_id) is not ExecutionStatus.FAILED


def test_a_custom_job_created_behind_a_lost_answer_is_found_by_its_label(fake, config, store_settings):
    from flowyml_gcp.names import run_key

    orch = orchestrator(config, store_settings)
    with fake.faults_for("submit", 2, alternate_commit=True):  # 503; then created + 503
        sub = orch.run_pipeline(P.single, run_id="flaky-custom-1")
    assert len(fake.calls("create")) == 2
    assert fake.jobs_for_run(run_key("flaky-custom-1")) == [sub.job_id]
    lookups = fake.calls("list")
    assert lookups and lookups[-1].query["filter"] == [f'labels.flowyml-run-key="{run_key("flaky-custom-1")}"']
    again = orch.run_pipeline(P.single, run_id="flaky-custom-1")
    assert again.job_id == sub.job_id and len(fake.calls("create")) == 2


def test_throttled_create_is_retried_and_honours_retry_after(fake, config, store_settings) -> None:
    orch = orchestrator(config, store_settings)
    with fake.faults_for("submit", 1, status=429, retry_after=0):
        sub = orch.run_pipeline(P.single, run_id="throttled-1")
    assert [r.status for r in fake.calls("create")] == [429, 200]
    assert sub.job_id in fake.jobs


def test_a_create_that_keeps_failing_raises_a_transient_error_and_records_no_run(fake, config, store_settings):
    from flowyml.core.errors import TransientBackendError

    orch = orchestrator(config, store_settings)
    with fake.faults_for("submit", 100), pytest.raises(TransientBackendError):
        orch.run_pipeline(P.single, run_id="down-1")
    assert not fake.jobs


def test_a_rejected_request_is_not_retried(fake, config, store_settings) -> None:
    from google.api_core import exceptions as gexc

    orch = orchestrator(config, store_settings)
    with fake.faults_for("submit", 1, status=400), pytest.raises(BackendError) as info:
        orch.run_pipeline(P.single, run_id="bad-1")
    assert isinstance(info.value.__cause__, gexc.BadRequest)  # wrapped by core, cause chained
    assert len(fake.calls("create")) == 1


def test_config_is_validated(config) -> None:
    import attrs

    from flowyml_gcp.config import VertexAIConfig

    with pytest.raises(ConfigError, match="project_id"):
        VertexAIConfig().validate()
    with pytest.raises(ConfigError, match="gs://"):
        attrs.evolve(config, staging_bucket="s3://nope").validate()
    with pytest.raises(ConfigError, match="KMS"):
        attrs.evolve(config, encryption_key="my-key").validate()
    with pytest.raises(ConfigError, match="region"):
        attrs.evolve(config, region="Europe West").validate()
    config.validate()


def test_a_run_without_an_image_is_refused_before_any_request(fake, config, store_settings) -> None:
    from flowyml_gcp.orchestrators import VertexAIOrchestrator

    orch = VertexAIOrchestrator(config=config, store_settings=store_settings)
    with pytest.raises(ConfigError, match=r"docker\.image"):
        orch.run_pipeline(P.dag4, run_id="noimage-1")
    assert not fake.calls("create")
