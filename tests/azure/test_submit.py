"""Submission: what azure-ai-ml sends for command and pipeline jobs, asserted on recorded bodies."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import az_pipelines
import pytest
from azfake_server import FakeAzureML
from azhelpers import IMAGE, SHARED, file_root, orchestrator

from flowyml.core.errors import BackendError, ConfigError
from flowyml.core.resources import DockerConfig
from flowyml.core.status import ExecutionStatus as S
from flowyml.orchestrators import RemoteOrchestrator
from flowyml.orchestrators.layout import RunLayout
from flowyml_azure.config import AzureMLConfig
from flowyml_azure.names import experiment_name, job_name, node_names

pytestmark = pytest.mark.azure


def test_a_three_unit_pipeline_becomes_one_pipeline_job_with_bound_dependencies(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    config = attrs.evolve(
        config,
        gpu_compute="gpu-cluster",
        unit_instance_count={"train": 2},
        experiment_name="churn",
        tags={"owner": "ml-team"},
        unit_compute={"evaluate": "eval-cpu"},
    )
    fake.computes.add("eval-cpu")
    sub = orchestrator(config, file_root(tmp_path)).run_pipeline(
        az_pipelines.three_units, run_id="three-1", labels={"env": "test"}
    )
    assert sub.job_id == "three-1"
    assert sub.handle.units == {"prepare": "prepare", "train": "train", "evaluate": "evaluate"}

    put = fake.find("PUT", r"/jobs/three-1$")[-1]
    props = put.body["properties"]
    assert props["jobType"] == "Pipeline" and props["experimentName"] == "churn"
    assert props["displayName"] == "azure-three-units"
    assert props["tags"]["flowyml.run_id"] == "three-1" and props["tags"]["owner"] == "ml-team"
    assert props["tags"]["env"] == "test"
    assert props["settings"]["continue_on_step_failure"] is False
    assert props["settings"]["default_compute"].endswith("/computes/cpu-cluster")
    nodes = props["jobs"]
    assert set(nodes) == {"prepare", "train", "evaluate"}
    # Azure ML has no bare .after(): each edge is the upstream node's `done` output bound to an input.
    edges = {
        name: sorted(re.findall(r"parent\.jobs\.(\w+)\.outputs\.done", str(node.get("inputs"))))
        for name, node in nodes.items()
    }
    assert edges == {"prepare": [], "train": ["prepare"], "evaluate": ["prepare", "train"]}
    # per-unit compute: GPU units go to gpu_compute, unit_compute wins, the rest use compute
    assert nodes["train"]["computeId"].endswith("/computes/gpu-cluster")
    assert nodes["evaluate"]["computeId"].endswith("/computes/eval-cpu")
    assert nodes["prepare"]["computeId"].endswith("/computes/cpu-cluster")
    for unit, node in nodes.items():
        assert node["display_name"] == unit
        env = node["environment_variables"]
        assert env["FLOWYML_UNIT"] == unit and env["FLOWYML_RUN_ID"] == "three-1" and env["TEAM"] == "ml"
        spec = fake.component(node["componentId"])["properties"]["componentSpec"]
        assert spec["command"] == (
            f"flowyml step-runner --job {file_root(tmp_path)}/{RunLayout('three-1').spec} --unit {unit}"
        )
        assert spec["outputs"] == {"done": {"type": "uri_folder"}}
        assert spec["resources"]["instance_count"] == (2 if unit == "train" else 1)
        assert spec["resources"].get("instance_type") == ("Standard_NC6s_v3" if unit == "train" else None)
    # The image became one anonymous environment that every component uses.
    env_puts = fake.find("PUT", r"/environments/CliV2AnonymousEnvironment/versions/")
    assert {r.path for r in env_puts} == {env_puts[0].path} and env_puts[0].body["properties"]["image"] == IMAGE
    assert {fake.component(n["componentId"])["properties"]["componentSpec"]["environment"] for n in nodes.values()} == {
        "azureml:" + env_puts[0].path
    }
    # Pipeline submission carries the AML token and validated the computes.
    assert "x-azureml-token" in put.headers
    assert fake.find("GET", r"/computes/gpu-cluster$")


def test_one_unit_runs_as_one_command_job(fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    sub = orch.run_pipeline(az_pipelines.ticking, run_id="tick-1", timeout=600)
    assert sub.handle.units == {"ticker": "tick-1"} and sub.handle.metadata["job_type"] == "command"
    props = fake.find("PUT", r"/jobs/tick-1$")[-1].body["properties"]
    assert props["jobType"] == "Command"
    spec_uri = f"{file_root(tmp_path)}/{RunLayout('tick-1').spec}"
    assert props["command"] == f"flowyml step-runner --job {spec_uri} --unit ticker"
    assert props["environmentVariables"]["FLOWYML_UNIT"] == "ticker"
    assert props["computeId"].endswith("/computes/cpu-cluster")
    assert props["experimentName"] == "azure-ticking" and props["displayName"] == "ticker"
    assert props["limits"]["timeout"] in ("PT10M", 600, "PT600S")
    assert (
        props["environmentId"]
        .lower()
        .endswith(fake.find("PUT", r"/environments/")[-1].path.lower().split("/workspaces/flowyml-ws")[-1])
    )
    assert fake.find("GET", r"/jobs/tick-1$")[0].status == 404, "a create is preceded by a GET of the name"


def test_a_registered_environment_replaces_the_image(fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path) -> None:
    config = attrs.evolve(config, environment="azureml:flowyml-runner:3")
    orchestrator(config, file_root(tmp_path)).run_pipeline(az_pipelines.ticking, run_id="env-1")
    props = fake.find("PUT", r"/jobs/env-1$")[-1].body["properties"]
    assert props["environmentId"].endswith("/environments/flowyml-runner/versions/3")
    assert not fake.find("PUT", r"/environments/")


def test_resubmitting_a_run_id_finds_the_existing_job(fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path) -> None:
    orch = orchestrator(config, file_root(tmp_path))
    first = orch.run_pipeline(az_pipelines.three_units, run_id="again-1")
    second = orch.run_pipeline(az_pipelines.three_units, run_id="again-1")
    assert second.job_id == first.job_id and second.handle.units == first.handle.units
    assert len(fake.find("PUT", r"/jobs/again-1$")) == 1 and fake.creates["again-1"] == 1


def test_a_lost_create_answer_is_found_by_the_retry_not_duplicated(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    fake.inject(503, 1, method="PUT", path=r"/jobs/lost-1$")  # refused: nothing created
    fake.inject(None, 1, method="PUT", path=r"/jobs/lost-1$", after=True)  # created, answer dropped
    sub = orchestrator(config, file_root(tmp_path)).run_pipeline(az_pipelines.three_units, run_id="lost-1")
    assert sub.job_id == "lost-1"
    assert [r.status for r in fake.find("PUT", r"/jobs/lost-1$")] == [503, 0]
    assert fake.creates["lost-1"] == 1
    assert [r.status for r in fake.find("GET", r"/jobs/lost-1$")][-1] == 200


def test_without_an_image_submit_says_what_to_set(fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path) -> None:
    orch = RemoteOrchestrator(
        backend="azureml",
        config=config,
        artifact_store=file_root(tmp_path),
        store_settings=SHARED,
        docker_config=DockerConfig(),
    )
    with pytest.raises(ConfigError, match=r"docker\.image"):
        orch.run_pipeline(az_pipelines.ticking, run_id="noimage-1")
    assert not fake.find("PUT", r"/jobs/")


def test_a_refused_submission_is_a_backend_error_naming_the_cause(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    config = attrs.evolve(config, unit_compute={"train": "no-such-cluster"})
    with pytest.raises(BackendError, match="no-such-cluster"):
        orchestrator(config, file_root(tmp_path)).run_pipeline(az_pipelines.three_units, run_id="refused-1")
    assert not fake.find("PUT", r"/jobs/refused-1$"), "validation failed before any job was created"


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ConfigError, match="compute: required field missing"):
        AzureMLConfig(subscription_id="s", resource_group="r", workspace_name="w").validate()
    with pytest.raises(ConfigError, match="credential"):
        AzureMLConfig("s", "r", "w", "c", credential="password123").validate()
    with pytest.raises(ConfigError, match="https"):
        AzureMLConfig("s", "r", "w", "c", arm_endpoint="http://127.0.0.1:1").validate()


def test_names_are_deterministic_and_valid() -> None:
    assert job_name("train-20260101-120000-abc123") == "train-20260101-120000-abc123"
    weird = job_name("my run/1")
    assert re.fullmatch(r"[A-Za-z0-9][\w-]*", weird) and weird == job_name("my run/1") != job_name("my run/2")
    nodes = node_names(["prep", "Train-Model", "2nd", "train_model"])
    assert nodes["prep"] == "prep"
    assert all(re.fullmatch(r"[a-z_][a-z0-9_]*", n) for n in nodes.values())
    assert len(set(nodes.values())) == 4
    assert experiment_name("My Pipeline: v2") == "My_Pipeline_v2" and experiment_name("churn-model") == "churn-model"


def test_a_local_file_store_is_refused_at_submit_unless_shared(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path
) -> None:
    """Jobs run on Azure compute: a laptop path would fail in the job after a billable start."""
    local = orchestrator(config, file_root(tmp_path), settings={})
    with pytest.raises(ConfigError, match=r"azureml backend runs jobs on other machines.*shared: \"true\""):
        local.run_pipeline(az_pipelines.ticking, run_id="local-1")
    assert not fake.find("PUT", r"/jobs/") and not fake.requests, "refused before any call to Azure"
    shared = orchestrator(config, file_root(tmp_path), settings=dict(SHARED))
    sub = shared.run_pipeline(az_pipelines.ticking, run_id="local-2")
    fake.execute(sub.job_id)
    assert shared.get_run_status(sub.job_id) is S.COMPLETED and sub.get_output("ticks") == 5


@pytest.mark.parametrize("pipeline", ["ticking", "three_units"])
def test_a_run_whose_submitter_died_before_recording_it_is_adopted_or_reads_interrupted(
    fake: FakeAzureML, config: AzureMLConfig, tmp_path: Path, pipeline: str
) -> None:
    """The registry holds only core's provisional handle (run id, no job type) and the submitter is
    gone: ``find`` reads the job named after the run id; the run is adopted with the handle submit
    returned, or, with no such job, reads "submission interrupted"."""
    from flowyml.orchestrators.registry import is_provisional
    from tests.submitters import dead_pid, forget_the_recorded_job

    orch, pid = orchestrator(config, file_root(tmp_path)), dead_pid()
    handles = {}
    for run_id in (f"adopt.{pipeline}", f"gone.{pipeline}"):  # '.': the job name is not the run id
        handles[run_id] = orch.run_pipeline(getattr(az_pipelines, pipeline), run_id=run_id).handle
        forget_the_recorded_job(orch, run_id, pid)
    with fake._lock:
        del fake.jobs[handles[f"gone.{pipeline}"].job_id]

    assert orch.get_status_report(f"adopt.{pipeline}").native_state == "NotStarted"
    adopted, want = orch.registry.get(f"adopt.{pipeline}").handle, handles[f"adopt.{pipeline}"]
    assert not is_provisional(adopted) and (adopted.job_id, adopted.units) == (want.job_id, want.units)
    assert adopted.metadata["job_type"] == want.metadata["job_type"]
    gone = orch.get_status_report(f"gone.{pipeline}")
    assert gone.status is S.FAILED and "submission interrupted" in (gone.message or "")
