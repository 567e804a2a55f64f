"""Registration, lazy imports, the seed-compatible facade, flowyml.yaml, names and machine choice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowyml.core.errors import ConfigError
from flowyml.core.resources import ResourceConfig

SDK_MODULES = (
    "google.cloud.aiplatform",
    "google.cloud.aiplatform_v1",
    "kfp",
    "google.cloud.storage",
    "google.cloud.logging_v2",
)


def test_registering_the_plugin_and_building_an_orchestrator_loads_no_google_sdk() -> None:
    code = (
        "import json, sys, flowyml\n"
        "from flowyml.plugins.manager import get_plugin_manager\n"
        "info = get_plugin_manager().backend('vertex_ai')\n"
        "from flowyml.stacks.gcp import VertexAIOrchestrator, GCSArtifactStore\n"
        "o = VertexAIOrchestrator(project_id='p', staging_bucket='gs://b')\n"
        f"print(json.dumps([m for m in {SDK_MODULES!r} if m in sys.modules]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_flowyml_plugins_lists_the_backend_and_the_scheme() -> None:
    flowyml = Path(sys.executable).parent / "flowyml"
    proc = subprocess.run([str(flowyml), "plugins", "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    [backend] = [b for b in doc["backends"] if b["name"] == "vertex_ai"]
    assert backend["extra"] == "gcp" and {"dag", "cancel", "logs"} <= set(backend["capabilities"])
    assert "gs" in json.dumps(doc)


def test_the_seed_constructor_and_settings() -> None:
    from flowyml.stacks.gcp import VertexAIOrchestrator

    o = VertexAIOrchestrator(
        project_id="my-proj",
        service_account="sa@my-proj.iam.gserviceaccount.com",
        network="projects/1/global/networks/n",
        encryption_key="projects/p/locations/l/keyRings/r/cryptoKeys/k",
        staging_bucket="gs://my-bucket",
        api_endpoint="http://127.0.0.1:1",
    )
    assert o.name == "vertex_ai" and o.region == "europe-west1" and o.project_id == "my-proj"
    assert o.artifact_root == "gs://my-bucket/flowyml"
    assert o.config.anonymous  # a plain-http endpoint is a local fake: never send real credentials there
    assert o.validate() is True
    d = o.to_dict()
    assert d["type"] == "vertex_ai" and d["service_account"].startswith("sa@") and "console_url" in d
    assert VertexAIOrchestrator(project_id="p").artifact_root == "gs://flowyml-p-artifacts"
    with pytest.raises(ConfigError, match="project_id"):
        VertexAIOrchestrator().validate()
    tuned = VertexAIOrchestrator(project_id="p", machine_type="n2-standard-8", log_poll_interval=1.0)
    assert tuned.config.machine_type == "n2-standard-8" and tuned.config.log_poll_interval == 1.0


def test_a_flowyml_yaml_stack(tmp_path: Path) -> None:
    from flowyml.config.loader import load_config
    from flowyml_gcp.config import VertexAIConfig

    (tmp_path / "flowyml.yaml").write_text(
        "stacks:\n"
        "  prod:\n"
        "    orchestrator: {type: vertex_ai, project_id: my-proj, region: us-central1,\n"
        "                   service_account: sa@my-proj.iam.gserviceaccount.com, staging_bucket: gs://my-bucket,\n"
        "                   labels: {team: ml}}\n"
        "    artifact_store: {uri: gs://my-bucket/flowyml, settings: {project: my-proj}}\n"
        "    resources: {cpu: '2', memory: 4Gi}\n"
        "    docker: {image: europe-docker.pkg.dev/my-proj/images/runner:1}\n"
    )
    orch = load_config(tmp_path / "flowyml.yaml").orchestrator("prod")
    assert isinstance(orch.config, VertexAIConfig) and orch.config.region == "us-central1"
    assert orch.config.labels == {"team": "ml"} and orch.artifact_root == "gs://my-bucket/flowyml"
    (tmp_path / "bad.yaml").write_text("stacks:\n  prod:\n    orchestrator: {type: vertex_ai, projectid: x}\n")
    with pytest.raises(ConfigError, match="projectid"):
        load_config(tmp_path / "bad.yaml")


def test_labels_follow_gcp_rules() -> None:
    from flowyml_gcp.names import label_key, label_value, pipeline_job_id, run_key, run_labels

    assert label_value("Run.ID Ü/2026") == "run-id---2026"
    assert len(label_value("x" * 100)) == 63
    assert label_key("9Team") == "k9team" and label_key("Cost Center") == "cost-center"
    labels = run_labels("My.Run", "Train Pipeline", {"Owner": "Ann"}, unit="train")
    assert labels == {
        "owner": "ann",
        "flowyml-run": "my-run",
        "flowyml-run-key": run_key("My.Run"),
        "flowyml-pipeline": "train-pipeline",
        "flowyml-unit": "train",
    }
    many = run_labels("r", "p", {f"k{i}": "v" for i in range(80)})
    assert len(many) == 64 and many["flowyml-run"] == "r"
    # job ids: valid, deterministic, distinct for run ids that slug the same
    assert pipeline_job_id("Run_1") == pipeline_job_id("Run_1") != pipeline_job_id("run-1")
    for rid in ("Run_1", "x" * 300, "1-starts-with-digit", "日本"):
        jid = pipeline_job_id(rid)
        assert jid[0].isalpha() and len(jid) <= 128 and all(c.isalnum() or c == "-" for c in jid), jid


@pytest.mark.parametrize(
    ("resources", "machine"),
    [
        (ResourceConfig(), "n1-standard-4"),
        (ResourceConfig(cpu="2", memory="4Gi"), "n1-standard-2"),
        (ResourceConfig(cpu="4", memory="16Gi"), "n1-highmem-4"),
        (ResourceConfig(cpu="6", memory="16Gi"), "n1-standard-8"),
        (ResourceConfig(cpu="2", memory="12Gi"), "n1-highmem-2"),
        (ResourceConfig(cpu="500m"), "n1-standard-2"),
        (ResourceConfig(machine_type="c2-standard-30", cpu="2"), "c2-standard-30"),
        (ResourceConfig(gpu="a100", gpu_count=2), "a2-highgpu-2g"),
        (ResourceConfig(gpu="nvidia-l4", gpu_count=1), "g2-standard-4"),
    ],
)
def test_machine_types(resources: ResourceConfig, machine: str) -> None:
    from flowyml_gcp.machine import machine_type

    assert machine_type(resources, "n1-standard-4") == machine


def test_accelerators_and_kfp_quantities() -> None:
    from flowyml_gcp.machine import accelerator, kfp_memory

    assert accelerator(ResourceConfig()) is None
    assert accelerator(ResourceConfig(gpu_count=1)) == ("NVIDIA_TESLA_T4", 1)
    assert accelerator(ResourceConfig(gpu="nvidia-tesla-v100", gpu_count=4)) == ("NVIDIA_TESLA_V100", 4)
    assert accelerator(ResourceConfig(gpu="NVIDIA_L4")) == ("NVIDIA_L4", 1)
    with pytest.raises(ConfigError):
        accelerator(ResourceConfig(gpu="quantum"))
    assert kfp_memory("4Gi") == "4Gi" and kfp_memory("1.5Gi") == "1536Mi"
