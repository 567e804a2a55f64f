"""RemoteOrchestrator details: the job spec, guards, re-attach with the stack's config, defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from flowyml import Pipeline, context, step
from flowyml.core.errors import ConfigError, FlowymlError
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators import RemoteOrchestrator
from flowyml.orchestrators.spec import build_job_spec
from flowyml.plugins import Backend, RunHandle, StatusReport
from flowyml.plugins.manager import get_plugin_manager

ROOT = Path(__file__).parent.parent.parent


@step(outputs=["raw"], execution_group="prep", resources={"cpu": "1"})
def load():
    return [1, 2]


@step(inputs=["raw"], outputs=["clean"], execution_group="prep", resources={"memory": "2Gi"})
def clean(raw):
    return raw


@step(inputs=["clean", "extra"], outputs=["model"], resources={"gpu": "t4", "gpu_count": 1})
def train(clean, extra, lr: float = 0.1):
    return lr


pipeline = Pipeline("spec", context=context(lr=0.5)).add_step(load).add_step(clean).add_step(train)


def test_the_job_spec_has_units_dependencies_resources_and_a_pipeline_reference():
    spec = build_job_spec(pipeline, "r-1", "file:///tmp/a", inputs={"extra": 1}, context={"lr": 0.2})
    assert [u.name for u in spec.units] == ["prep", "train"]
    prep, train_unit = spec.units
    assert prep.steps == ["load", "clean"] and prep.depends_on == [] and prep.inputs == {}
    assert prep.resources.cpu == "1" and prep.resources.memory == "2Gi"
    assert train_unit.depends_on == ["prep"]
    assert train_unit.inputs == {"clean": "clean", "extra": "__input__"}
    assert train_unit.outputs == {"model": "train"} and train_unit.resources.gpu_count == 1
    assert spec.context == {"lr": 0.2} and spec.input_names == ["extra"]
    assert spec.pipeline.attribute == "pipeline" and spec.pipeline.path.endswith("test_orchestrator.py")
    assert spec.labels == {"flowyml-run-id": "r-1", "flowyml-pipeline": "spec"}
    assert spec.unit_command("train") == [
        "flowyml",
        "step-runner",
        "--job",
        "file:///tmp/a/runs/r-1/job.json",
        "--unit",
        "train",
    ]
    env = spec.unit_env("train")
    assert env["FLOWYML_RUN_ID"] == "r-1" and env["FLOWYML_UNIT"] == "train"


def test_context_values_must_be_json_to_travel():
    with pytest.raises(FlowymlError, match=r"context parameter .model. .* JSON-serialisable"):
        build_job_spec(pipeline, "r-2", "file:///tmp/a", inputs={"extra": 1}, context={"model": object()})


def test_a_pipeline_inside_a_function_needs_an_explicit_reference():
    def make():
        return Pipeline("local-var").add_step(load)

    with pytest.raises(FlowymlError, match="not a module-level variable"):
        build_job_spec(make(), "r-3", "file:///tmp/a")


def test_submitting_at_import_time_of_the_step_runner_is_refused(tmp_path: Path):
    module = tmp_path / "eager.py"
    module.write_text(
        "from flowyml import Pipeline, step\n"
        "from flowyml.stacks.local import LocalOrchestrator\n"
        "@step(outputs=['x'])\n"
        "def one():\n"
        "    return 1\n"
        "pipeline = Pipeline('eager', enable_cache=False).add_step(one)\n"
        "LocalOrchestrator().run_pipeline(pipeline)   # no __main__ guard!\n"
    )
    proc = subprocess.run([sys.executable, str(module)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    import time

    from flowyml.orchestrators.registry import RunRegistry

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = RunRegistry().list()
            if len(runs) > 1:
                break  # the guard failed: stop at once (cleanup below)
            if runs and RemoteOrchestrator.for_handle(runs[0].handle).get_run_status(runs[0].run_id).is_finished:
                break
            time.sleep(0.2)
        runs = RunRegistry().list()
        assert len(runs) == 1, "the step-runner submitted the pipeline again"
        report = RemoteOrchestrator.for_handle(runs[0].handle).get_status_report(runs[0].run_id)
        assert report.status is ExecutionStatus.FAILED
        assert "guard the submission" in report.message
    finally:
        _kill_all_local_runs()


def _kill_all_local_runs() -> None:
    import signal

    from flowyml.backends.local import paths

    for _ in range(3):  # runs started while we were killing are caught in the next pass
        for directory in paths.runs_root().glob("*"):
            pid = paths.supervisor_pid(directory)
            if pid:
                pid.kill_group(signal.SIGKILL)


@attrs.define(frozen=True)
class VaultConfig:
    url: str = "http://vault"
    token: str | None = attrs.field(default=None, metadata={"secret": True})

    def default_artifact_root(self) -> str:
        return "file:///tmp/vault-artifacts"


class VaultPlugin(Backend):
    name = "vault"
    config_class = VaultConfig
    native_states = {"OK": ExecutionStatus.COMPLETED}
    seen: list[str | None] = []

    def submit(self, spec, config):
        return RunHandle(backend="vault", run_id=spec.run_id, job_id=f"v-{spec.run_id}")

    def status(self, handle, config):
        self.seen.append(config.token)
        return StatusReport(ExecutionStatus.COMPLETED, native_state="OK")


def test_reattach_takes_secrets_from_the_stack_and_never_stores_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pm = get_plugin_manager()
    pm.register_backend(VaultPlugin(), name="vault")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VAULT_TOKEN", "t0ps3cret")
    (tmp_path / "flowyml.yaml").write_text(
        "stacks:\n  v:\n    orchestrator: {type: vault, token: '${VAULT_TOKEN}'}\n"
        "    artifact_store: {uri: '" + (tmp_path / "arts").as_uri() + "'}\n"
    )
    from flowyml.config.loader import load_config

    orchestrator = load_config().orchestrator("v")
    sub = orchestrator.run_pipeline(pipeline, run_id="vault-1", inputs={"extra": 1})
    stored = orchestrator.registry.get("vault-1").handle
    assert "t0ps3cret" not in stored.to_json() and "t0ps3cret" not in str(orchestrator.to_dict())
    VaultPlugin.seen.clear()
    RemoteOrchestrator.for_handle(stored).get_run_status("vault-1")
    assert VaultPlugin.seen == ["t0ps3cret"]  # rebuilt from the stack, secret included
    assert sub.job_id == "v-vault-1"


def test_a_backend_config_can_name_the_default_artifact_root():
    get_plugin_manager().register_backend(VaultPlugin(), name="vault")
    assert RemoteOrchestrator(backend="vault").artifact_root == "file:///tmp/vault-artifacts"


def test_pipeline_module_from_flowyml_yaml_is_the_default_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flowyml.yaml").write_text("pipeline_module: my_project.pipelines:training\n")
    from flowyml.config.loader import load_config

    orchestrator = load_config().orchestrator()
    assert orchestrator.pipeline_module == "my_project.pipelines:training"


class FarAway(VaultPlugin):
    name = "faraway"
    needs_remote_store = True


def test_a_local_store_is_refused_for_a_backend_whose_jobs_run_elsewhere(tmp_path: Path):
    get_plugin_manager().register_backend(FarAway(), name="faraway")
    local = (tmp_path / "arts").as_uri()
    with pytest.raises(ConfigError, match=r"cannot read the local artifact store file://.*shared: \"true\""):
        RemoteOrchestrator(backend="faraway", artifact_store=local).run_pipeline(
            pipeline, run_id="far-1", inputs={"extra": 1}
        )
    assert not (tmp_path / "arts").exists()  # refused before anything was written
    shared = RemoteOrchestrator(backend="faraway", artifact_store=local, store_settings={"shared": "true"})
    assert shared.run_pipeline(pipeline, run_id="far-2", inputs={"extra": 1}).job_id == "v-far-2"


def test_a_plain_path_artifact_store_is_a_file_store(tmp_path: Path):
    get_plugin_manager().register_backend(VaultPlugin(), name="vault")
    orchestrator = RemoteOrchestrator(backend="vault", artifact_store=str(tmp_path / "plain"))
    assert orchestrator.artifact_root == (tmp_path / "plain").as_uri()
    sub = orchestrator.run_pipeline(pipeline, run_id="plain-1", inputs={"extra": 1})
    assert (tmp_path / "plain" / "runs" / "plain-1" / "job.json").is_file()
    assert sub.job_id == "v-plain-1"
