"""Submission: what reaches Vertex AI for a 4-unit DAG (PipelineJob) and a single unit (CustomJob)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from flowyml.core.errors import AuthError, ConfigError, RefusedError
from flowyml.core.resources import DockerConfig
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators.layout import RunLayout
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

    return GCSStorage(root, settings).read_bytes(RunLayout(run_id).spec).decode()


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
    with fake.faults_for("submit", 1, status=400), pytest.raises(RefusedError, match="Vertex AI refused") as info:
        orch.run_pipeline(P.single, run_id="bad-1")
    assert isinstance(info.value.__cause__, gexc.BadRequest)  # translated by the backend, cause chained
    assert "\n" not in str(info.value) and "vertex_ai submit" in str(info.value)
    assert len(fake.calls("create")) == 1


@pytest.mark.parametrize(("status", "hint"), [(401, "GOOGLE_APPLICATION_CREDENTIALS"), (403, "roles/aiplatform.user")])
def test_rejected_credentials_are_an_auth_error_saying_what_to_set(fake, config, store_settings, status, hint):
    orch = orchestrator(config, store_settings)
    with fake.faults_for("submit", 1, status=status), pytest.raises(AuthError, match=hint) as info:
        orch.run_pipeline(P.single, run_id=f"auth-{status}")
    assert "\n" not in str(info.value) and len(fake.calls("create")) == 1  # never retried


def _no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No key file, no gcloud login, no metadata server: google.auth.default() finds nothing."""
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    monkeypatch.setenv("HOME", str(tmp_path))


def test_missing_credentials_are_an_auth_error_not_a_traceback(fake, config, store_settings, tmp_path, monkeypatch):
    import attrs

    _no_credentials(monkeypatch, tmp_path)
    from flowyml_gcp.client import CLIENTS

    real = attrs.evolve(config, anonymous_credentials=False)  # use Application Default Credentials
    orch = orchestrator(real, store_settings)
    CLIENTS.clear()
    try:
        with pytest.raises(AuthError, match="no Google credentials found") as info:
            orch.run_pipeline(P.single, run_id="no-creds-1")
    finally:
        CLIENTS.clear()
    assert "gcloud auth application-default login" in str(info.value) and "\n" not in str(info.value)
    assert not fake.calls("create")


def test_the_cli_says_what_to_set_in_one_line_and_exits_5(fake, config, store_settings, bucket, tmp_path):
    import subprocess
    import sys

    from tests.gcp.conftest import REPO

    (tmp_path / "flowyml.yaml").write_text(
        "stacks:\n"
        "  prod:\n"
        f"    orchestrator: {{type: vertex_ai, project_id: {config.project_id}, region: {config.region},\n"
        f"                   api_endpoint: '{fake.url}', anonymous_credentials: false}}\n"
        f"    artifact_store: {{uri: 'gs://{bucket}/flowyml', settings: {{endpoint: '{store_settings['endpoint']}',\n"
        f"                     project: {config.project_id}}}}}\n"
        f"    docker: {{image: {IMAGE}}}\n"
    )
    env = {
        **os.environ,
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GCE_METADATA_IP": "127.0.0.1:9",
        "HOME": str(tmp_path),
    }
    flowyml = Path(sys.executable).parent / "flowyml"
    proc = subprocess.run(
        [str(flowyml), "run", str(REPO / "tests/gcp/gcp_pipelines.py") + ":single", "--stack", "prod"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 5, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "no Google credentials found" in lines[0] and "GOOGLE_APPLICATION_CREDENTIALS" in lines[0]
    assert not fake.calls("create")


@pytest.mark.parametrize("pipeline", ["single", "dag4"])
def test_a_submission_refused_part_way_cancels_what_it_created(fake, config, store_settings, pipeline):
    """A create that took effect but answered 403: core cancels with its provisional handle (the
    run id only), which is aimed at the job the create made; a create that made nothing has
    nothing to cancel."""
    from flowyml.orchestrators.registry import RunRegistry
    from flowyml_gcp.names import run_key

    orch = orchestrator(config, store_settings)
    with fake.faults_for("submit", 1, status=403, after_commit=True), pytest.raises(AuthError):
        orch.run_pipeline(getattr(P, pipeline), run_id=f"part-{pipeline}")
    [job] = fake.jobs_for_run(run_key(f"part-{pipeline}"))
    assert [c.path.rsplit("/", 1)[-1] for c in fake.calls("cancel")] == [job.rsplit("/", 1)[-1] + ":cancel"]
    record = RunRegistry().get(f"part-{pipeline}")
    assert record.status is ExecutionStatus.FAILED and record.message.endswith("what it created was cancelled")

    with fake.faults_for("submit", 1, status=403), pytest.raises(AuthError):
        orch.run_pipeline(getattr(P, pipeline), run_id=f"none-{pipeline}")
    assert not fake.jobs_for_run(run_key(f"none-{pipeline}")) and len(fake.calls("cancel")) == 1
    assert "cancelled" not in RunRegistry().get(f"none-{pipeline}").message  # nothing was created to cancel
    assert RunRegistry().get(f"none-{pipeline}").status is ExecutionStatus.FAILED


def test_a_permission_denied_reaches_flowyml_run_and_status_as_one_line_and_exit_5(
    fake, config, store_settings, bucket, tmp_path
):
    """Vertex AI's 403 PERMISSION_DENIED (over REST google.api_core raises ``Forbidden``, the HTTP
    class of ``PermissionDenied``) on submit and on status: exit 5 and one line, no traceback."""
    import subprocess
    import sys

    from google.api_core import exceptions as gexc

    from tests.gcp.conftest import REPO

    (tmp_path / "flowyml.yaml").write_text(
        "stacks:\n"
        "  prod:\n"
        f"    orchestrator: {{type: vertex_ai, project_id: {config.project_id}, region: {config.region},\n"
        f"                   api_endpoint: '{fake.url}'}}\n"
        f"    artifact_store: {{uri: 'gs://{bucket}/flowyml', settings: {{endpoint: '{store_settings['endpoint']}',\n"
        f"                     project: {config.project_id}}}}}\n"
        f"    docker: {{image: {IMAGE}}}\n"
    )
    flowyml = Path(sys.executable).parent / "flowyml"

    def cli(*args: str) -> str:
        proc = subprocess.run([str(flowyml), *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 5, proc.stdout + proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr
        return lines[0]

    with fake.faults_for("submit", 1, status=403):
        line = cli("run", str(REPO / "tests/gcp/gcp_pipelines.py") + ":single", "--stack", "prod", "--detach")
    assert "vertex_ai submit: Vertex AI denied permission" in line and "roles/aiplatform.user" in line
    assert len(fake.calls("create")) == 1, "a 403 is not retried"

    orch = orchestrator(config, store_settings)
    sub = orch.run_pipeline(P.single, run_id="denied-status")
    with fake.faults_for("status", 100, status=403):
        with pytest.raises(AuthError) as info:  # the same answer in this process: the SDK's own exception
            orch.get_status_report(sub.run_id)
        assert isinstance(info.value.__cause__, gexc.Forbidden) and info.value.__cause__.code == 403
        line = cli("status", sub.run_id)
    assert line.startswith(
        "flowyml: the backend refused our credentials: vertex_ai status: Vertex AI denied permission"
    )


def test_resources_disk_is_the_custom_jobs_boot_disk(fake, config, store_settings) -> None:
    orchestrator(config, store_settings).run_pipeline(P.disk, run_id="disk-1")
    [create] = fake.calls("create")
    assert create.body["jobSpec"]["workerPoolSpecs"][0]["diskSpec"] == {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 250}


def test_a_disk_a_pipeline_task_cannot_get_is_refused_before_any_request(fake, config, store_settings) -> None:
    with pytest.raises(ConfigError, match=r"unit 'big_disk': resources.disk=250Gi .* 100 GB"):
        orchestrator(config, store_settings).run_pipeline(P.disk_dag, run_id="disk-dag-1")
    assert not fake.calls("create")


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


@pytest.mark.parametrize("root", ["file", "plain path"])
def test_a_local_artifact_store_is_refused_before_any_request(fake, config, tmp_path, root) -> None:
    from flowyml_gcp.orchestrators import VertexAIOrchestrator

    store = (tmp_path / "artifacts").as_uri() if root == "file" else str(tmp_path / "artifacts")
    orch = VertexAIOrchestrator(config=config, artifact_store=store, docker_config=DockerConfig(image=IMAGE))
    with pytest.raises(ConfigError, match=r"vertex_ai backend runs jobs on other machines.*shared: \"true\""):
        orch.run_pipeline(P.single, run_id=f"local-store-{root.replace(' ', '-')}")
    assert not fake.calls("create") and not list(tmp_path.glob("artifacts/runs/*"))


def test_a_shared_mount_opted_in_runs_end_to_end(fake, config, tmp_path, execute) -> None:
    """A path every job mounts (GCS FUSE on Vertex AI): accepted with `settings: {shared: "true"}`."""
    from flowyml_gcp.orchestrators import VertexAIOrchestrator

    orch = VertexAIOrchestrator(
        config=config,
        artifact_store=(tmp_path / "mounted").as_uri(),
        store_settings={"shared": "true"},
        docker_config=DockerConfig(image=IMAGE),
    )
    sub = orch.run_pipeline(P.single, run_id="shared-mount-1")
    execute(sub.handle)
    assert orch.get_run_status(sub.job_id) is ExecutionStatus.COMPLETED
    assert sub.get_output("answer") == 42
    assert (tmp_path / "mounted" / RunLayout("shared-mount-1").spec).is_file()


def test_pipelines_submitted_from_many_threads_at_once_each_get_their_job(fake, config, store_settings) -> None:
    """KFP compiles in a process-global context: concurrent submits (flowyml.aio, PipelineRunner) must
    not meet each other there ("Nested pipelines are not allowed")."""
    from concurrent.futures import ThreadPoolExecutor

    orch = orchestrator(config, store_settings)
    with ThreadPoolExecutor(max_workers=6) as pool:
        subs = list(pool.map(lambda i: orch.run_pipeline(P.dag4, run_id=f"threads-{i}"), range(6)))
    assert len({s.job_id for s in subs}) == 6 and len(fake.calls("create")) == 6
    for sub in subs:
        assert set(sub.handle.metadata["tasks"]) == {"load", "featurize", "train", "report"}


@pytest.mark.parametrize("pipeline", ["single", "dag4"])
def test_a_run_whose_submitter_died_before_recording_it_is_adopted_or_reads_interrupted(
    fake, config, store_settings, pipeline
):
    """The registry holds only core's provisional handle (run id, no resource name) and the
    submitter is gone: ``find`` looks the job up as submit does; the run is adopted with the
    handle submit returned, or, its job gone, reads "submission interrupted"."""
    from flowyml.orchestrators.registry import is_provisional
    from tests.submitters import dead_pid, forget_the_recorded_job

    orch, pid = orchestrator(config, store_settings), dead_pid()
    handles = {}
    for run_id in (f"adopt-{pipeline}", f"gone-{pipeline}"):
        handles[run_id] = orch.run_pipeline(getattr(P, pipeline), run_id=run_id).handle
        forget_the_recorded_job(orch, run_id, pid)
    with fake.lock:
        del fake.jobs[handles[f"gone-{pipeline}"].job_id]

    assert orch.get_status_report(f"adopt-{pipeline}").native_state.endswith("_STATE_PENDING")
    adopted = orch.registry.get(f"adopt-{pipeline}").handle
    assert not is_provisional(adopted)
    want = handles[f"adopt-{pipeline}"]
    assert (adopted.job_id, adopted.units, adopted.metadata["kind"]) == (want.job_id, want.units, want.metadata["kind"])
    gone = orch.get_status_report(f"gone-{pipeline}")
    assert gone.status is ExecutionStatus.FAILED and "submission interrupted" in (gone.message or "")
