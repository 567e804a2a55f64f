"""The ``ray`` backend's pure parts, without a cluster: ids, resources, stores, states, log lines, errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from flowyml.core.errors import AuthError, ConfigError, RefusedError, RunNotFoundError
from flowyml.core.resources import ResourceConfig
from flowyml.core.status import ExecutionStatus as S
from flowyml.plugins.cursors import decode_cursor
from flowyml_ray.client import already_exists, server_reason, transient, translate
from flowyml_ray.config import RayConfig
from flowyml_ray.lines import format_line, split_line
from flowyml_ray.logs import parse
from flowyml_ray.resources import accelerator_type, task_options
from flowyml_ray.states import JOB_STATES, job_native_state, run_status, unit_statuses
from flowyml_ray.submit import check_store, runtime_env, submission_id


def test_submission_ids_come_from_the_run_id() -> None:
    assert submission_id("train-1") == "flowyml-train-1"
    assert submission_id("train-1", "") == "train-1"
    odd = submission_id("a b/c")
    assert odd.startswith("flowyml-a-b-c-") and odd == submission_id("a b/c")
    assert odd != submission_id("a-b-c") and odd != submission_id("a b c")
    assert len(submission_id("x" * 300)) <= 100


def test_unit_resources_become_ray_task_options() -> None:
    opts = task_options(ResourceConfig(cpu="500m", memory="2Gi", gpu="nvidia-tesla-t4", gpu_count=2))
    assert opts["num_cpus"] == 0.5 and opts["memory"] == 2 * 1024**3 and opts["num_gpus"] == 2
    assert opts["accelerator_type"] == "T4" and opts["max_retries"] == 0
    custom = task_options(ResourceConfig(gpu="A100", gpu_count=1), accelerator_resources={"a100": "gpu_a100"})
    assert custom["resources"] == {"gpu_a100": 1.0} and "accelerator_type" not in custom
    assert task_options(ResourceConfig(), scheduling_strategy="SPREAD", retries=2) == {
        "max_retries": 2,
        "retry_exceptions": False,
        "scheduling_strategy": "SPREAD",
    }
    assert accelerator_type("nvidia-a100-80gb") == "A100-80G" and accelerator_type("L4") == "L4"


def test_a_local_store_is_refused_for_a_remote_cluster_unless_shared() -> None:
    check_store("file:///tmp/art", RayConfig(address="http://127.0.0.1:8265"))
    check_store("file:///tmp/art", RayConfig(address="http://localhost:8265"))
    check_store("s3://bucket/flowyml", RayConfig(address="http://head.example:8265"))
    check_store("file:///mnt/shared", RayConfig(address="http://head.example:8265"), {"shared": "true"})
    with pytest.raises(ConfigError, match=re.escape('settings: {shared: "true"}')):
        check_store("file:///tmp/art", RayConfig(address="http://head.example:8265"))


def test_a_local_store_for_a_remote_cluster_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No run row, no job spec, no call to the cluster: the same run id works once the store is fixed."""
    from flowyml.stacks.ray import RayOrchestrator
    from flowyml.testing import pipelines

    monkeypatch.setenv("FLOWYML_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FLOWYML_BACKEND_RETRY_ATTEMPTS", "1")
    artifacts = tmp_path / "artifacts"
    orchestrator = RayOrchestrator(address="http://ray-head.invalid:8265", artifact_store=artifacts.as_uri())
    with pytest.raises(ConfigError, match=re.escape('settings: {shared: "true"}')):
        orchestrator.run_pipeline(pipelines.two_units, run_id="remote-1")
    assert orchestrator.registry.find("remote-1") is None
    assert not (artifacts / "runs" / "remote-1").exists()
    from flowyml.plugins.manager import get_plugin_manager

    backend = get_plugin_manager().backend("ray")
    assert backend.needs_remote_store_for(RayConfig(address="https://ray.example.com")) is True
    assert backend.needs_remote_store_for(RayConfig(address="http://localhost:8265")) is False


def test_config_checks_the_address() -> None:
    RayConfig(address="https://ray.example/jobs").validate()
    with pytest.raises(ConfigError, match="Ray Client address"):
        RayConfig(address="ray://head:10001").validate()
    with pytest.raises(ConfigError, match="needs a scheme"):
        RayConfig(address="head:6379").validate()
    with pytest.raises(ConfigError, match="scheduling_strategy"):
        RayConfig(scheduling_strategy="PACKED")


def test_runtime_env_carries_the_store_settings_and_keeps_the_stacks() -> None:
    from flowyml.plugins.types import JobSpec, PipelineRef

    spec = JobSpec("r", "p", PipelineRef(module="m"), [], "s3://b/f", store_settings={"region": "eu-west-1"})
    config = RayConfig(runtime_env={"pip": ["numpy"], "env_vars": {"A": "1"}})
    env = runtime_env(spec, config)
    assert env["pip"] == ["numpy"] and env["env_vars"]["A"] == "1"
    assert env["env_vars"]["FLOWYML_STORE_SETTINGS"] == '{"region": "eu-west-1"}'
    assert config.runtime_env == {"pip": ["numpy"], "env_vars": {"A": "1"}}  # not modified


def test_the_state_table_and_its_refinements() -> None:
    assert {run_status(k) for k in ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "STOPPED")} == {
        S.QUEUED,
        S.RUNNING,
        S.COMPLETED,
        S.FAILED,
        S.CANCELLED,
    }
    assert run_status(job_native_state("RUNNING", True, False)) is S.STOPPING
    assert run_status(job_native_state("STOPPED", True, False)) is S.CANCELLED
    assert run_status(job_native_state("FAILED", False, True)) is S.TIMED_OUT
    assert run_status(job_native_state("SUCCEEDED", True, False)) is S.COMPLETED
    # the driver published that every unit succeeded while Ray still runs its process: the run is done
    assert run_status(job_native_state("RUNNING", False, False, True)) is S.COMPLETED
    assert run_status(job_native_state("RUNNING", True, False, True)) is S.COMPLETED
    assert run_status(job_native_state("FAILED", False, False, True)) is S.FAILED
    assert all(isinstance(v, S) for v in JOB_STATES.values())
    units = unit_statuses(["a", "b", "c"], {"a": "SUCCEEDED", "b": "RUNNING"}, S.CANCELLED)
    assert units == {"a": S.COMPLETED, "b": S.CANCELLED, "c": S.CANCELLED}
    assert unit_statuses(["a", "b"], {"a": "RUNNING"}, S.RUNNING) == {"a": S.RUNNING, "b": S.PENDING}


def test_log_lines_parse_by_unit_and_resume_at_offsets() -> None:
    text = (
        "Runtime env is setting up.\n"
        + format_line("prep", 10.5, '{"ts": 10.6, "severity": "ERROR", "message": "step x failed", "step": "x"}')
        + format_line("prep", 11.0, "progress 10%\rprogress 90%")
        + format_line(None, 12.0, "run r succeeded")
        + "flowyml|prep|13.0|half a li"
    )
    records = [r for _, r in parse(text, 0, 1.0)]
    assert [(r.unit, r.message, r.severity) for r in records] == [
        (None, "Runtime env is setting up.", "INFO"),
        ("prep", "step x failed", "ERROR"),
        ("prep", "progress 10%\rprogress 90%", "INFO"),
        (None, "run r succeeded", "INFO"),
    ]
    assert records[0].timestamp == 1.0 and records[1].timestamp == 10.6 and records[3].timestamp == 12.0
    offset = decode_cursor(records[1].cursor, "ray")["offset"]
    assert [r.message for _, r in parse(text, offset, 1.0)] == [r.message for r in records[2:]]
    assert split_line("flowyml||1.5|a|b") == (None, 1.5, "a|b") and split_line("plain") is None


def test_a_unit_named_like_a_tag_keeps_its_records() -> None:
    """``-`` and ``ünït`` are valid step names: their lines are theirs, the driver's carry no unit."""
    text = format_line("-", 1.0, "dash") + format_line("ünït", 2.0, "umlaut") + format_line(None, 3.0, "driver")
    records = [(r.unit, r.message) for _, r in parse(text, 0, 0.0)]
    assert records == [("-", "dash"), ("ünït", "umlaut"), (None, "driver")]


def test_jobs_api_errors_are_classified() -> None:
    missing = RuntimeError("Request failed with status code 404: Job flowyml-x does not exist.")
    taken = RuntimeError(
        "Request failed with status code 500: Traceback ...\nValueError: Job with submission_id flowyml-x already "
        "exists. Please use a different submission_id.\n."
    )
    assert transient(RuntimeError("Request failed with status code 503: busy")) is True
    assert transient(ConnectionError("Failed to connect to Ray at address: http://127.0.0.1:9.")) is True
    assert transient(missing) is False and transient(taken) is False and already_exists(taken)
    assert server_reason(taken).startswith("ValueError: Job with submission_id")
    gone = translate(missing, "status")
    assert isinstance(gone, RunNotFoundError) and "restarted" in str(gone) and "flowyml-x does not exist" in str(gone)
    assert isinstance(translate(RuntimeError("Request failed with status code 401: no"), "submit"), AuthError)
    assert isinstance(translate(RuntimeError("Request failed with status code 400: bad"), "submit"), RefusedError)
    assert translate(KeyError("x"), "status") is None


def test_the_backend_is_registered_and_import_flowyml_loads_no_ray() -> None:
    from flowyml.plugins.manager import get_plugin_manager

    backend = get_plugin_manager().backend("ray")
    assert backend.config_class is RayConfig and backend.extra == "ray"
    code = (
        "import sys, flowyml, flowyml_ray.plugin, flowyml_ray.config; "
        "from flowyml.plugins.manager import get_plugin_manager; get_plugin_manager().backend('ray'); "
        "print([m for m in sys.modules if m == 'ray' or m.startswith('ray.')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_rays_own_authentication_error_is_an_auth_error() -> None:
    from ray.exceptions import AuthenticationError

    error = translate(AuthenticationError("Authentication required: 401"), "status")
    assert isinstance(error, AuthError) and "auth_token" in str(error)


def test_a_driver_that_could_not_start_explains_the_missing_package() -> None:
    from flowyml_ray.submit import driver_failure

    ray_says = (
        "Job entrypoint command failed with exit code 1, last available logs (truncated to 20,000 chars):\n"
        "Running entrypoint for job flowyml-r: python -m flowyml_ray.driver --job file:///x/runs/r/job.json\n"
        "/usr/bin/python: Error while finding module specification for 'flowyml_ray.driver' "
        "(ModuleNotFoundError: No module named 'flowyml_ray')\n"
    )
    reason = driver_failure(ray_says, 1)
    assert reason is not None and "exit code 1" in reason and "No module named 'flowyml_ray'" in reason
    assert "runtime_env" in reason and "Getting flowyml onto the nodes" in reason
    assert '"flowyml-ray"' not in reason  # the package index's flowyml is another project
    assert driver_failure("Job was intentionally stopped.", None) == "Job was intentionally stopped."
    assert driver_failure("", None) is None


def test_a_driver_killed_by_a_signal_says_so_not_its_last_log_line() -> None:
    from flowyml_ray.submit import driver_failure, killed_by

    assert killed_by(-9) == killed_by(137) == "SIGKILL" and killed_by(143) == "SIGTERM"
    assert killed_by(1) is None and killed_by(0) is None and killed_by(None) is None and killed_by(4) is None
    ray_says = (
        "Job entrypoint command failed with exit code 137, last available logs (truncated to 20,000 chars):\n"
        "flowyml|nap|1700000000.000|napping\n"
    )
    reason = driver_failure(ray_says, 137, ["nap"])
    assert reason is not None and "killed by SIGKILL (exit code 137) while unit(s) nap" in reason
    assert "flowyml|" not in reason and "flowyml resume" in reason


def test_the_spec_a_ray_job_runs_is_read_from_its_entrypoint() -> None:
    from flowyml_ray.submit import spec_uri_of

    entrypoint = "python -m flowyml_ray.driver --job 'file:///a b/runs/r/job.json' --settings '{}'"
    assert spec_uri_of(entrypoint) == "file:///a b/runs/r/job.json"
    assert spec_uri_of("python train.py --job x") is None and spec_uri_of("python -m flowyml_ray.driver --job") is None
    assert spec_uri_of(None) is None and spec_uri_of("unbalanced 'quote") is None
