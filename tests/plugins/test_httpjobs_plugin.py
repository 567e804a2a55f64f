"""What the conformance kit does not cover: the plugin's own promises, the server, the CLI path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowyml.core.errors import AuthError, ConfigError, TransientBackendError
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators import RemoteOrchestrator
from flowyml.testing import pipelines
from flowyml_httpjobs.backend import NATIVE_STATES, RUN_LABEL, HttpJobsConfig, job_name
from flowyml_httpjobs.server import JobServer
from tests.cli_process import cli_env, run_cli

from .conftest import TOKEN

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "third_party_plugin"
S = ExecutionStatus


def _orchestrator(config: HttpJobsConfig, tmp_path: Path) -> RemoteOrchestrator:
    return RemoteOrchestrator(backend="httpjobs", config=config, artifact_store=(tmp_path / "art").as_uri())


# -- the state table ---------------------------------------------------------------------------------
def test_the_state_table_lists_every_server_state() -> None:
    assert set(NATIVE_STATES) == {"QUEUED", "RUNNING", "CANCELLING", "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"}


# -- submit ------------------------------------------------------------------------------------------
def test_a_lost_create_answer_does_not_make_a_second_job(
    job_server: JobServer, config: HttpJobsConfig, tmp_path: Path
) -> None:
    orchestrator = _orchestrator(config, tmp_path)
    with job_server.faults("submit", 1, lost_response=True):  # created, but the answer is a 503
        sub = orchestrator.run_pipeline(pipelines.two_units, run_id="lost-answer")
    names = [j.name for j in job_server.jobs.values() if j.labels[RUN_LABEL] == "lost-answer"]
    assert sorted(names) == sorted(sub.handle.units.values())
    assert sub.wait_for_completion(timeout=60, poll_interval=0.1) is S.COMPLETED
    assert sub.get_output("total") == 30


def test_units_become_server_jobs_wired_with_after(job_server: JobServer, config: HttpJobsConfig, tmp_path: Path):
    sub = _orchestrator(config, tmp_path).run_pipeline(pipelines.two_units, run_id="wired")
    total = job_server.jobs[job_name("wired", "total")]
    assert total.after == [job_name("wired", "prep")]
    assert total.argv[:2] == ["flowyml", "step-runner"] and total.env["FLOWYML_UNIT"] == "total"
    assert sub.job_id == "fy-wired"
    sub.wait_for_completion(timeout=60, poll_interval=0.1)


def test_odd_run_ids_make_valid_distinct_job_names() -> None:
    a, b = job_name("run/with spaces", "u"), job_name("run/with:spaces", "u")
    assert a != b
    assert all(c.isalnum() or c in "._-" for c in a + b)
    assert len(job_name("x" * 300, "y" * 300)) <= 128


# -- failures ----------------------------------------------------------------------------------------
def test_a_failed_unit_cancels_its_dependants_and_the_run_fails_with_the_step_error(
    job_server: JobServer, config: HttpJobsConfig, tmp_path: Path
) -> None:
    sub = _orchestrator(config, tmp_path).run_pipeline(
        pipelines.two_units, run_id="dep-fails", context={"count": "not a number"}
    )
    assert sub.wait_for_completion(timeout=60, poll_interval=0.1, raise_on_failure=False) is S.FAILED
    report = sub.report()
    assert report.units == {"prep": S.FAILED, "total": S.CANCELLED}
    assert "exit code" in report.message
    details = sub.orchestrator.get_run_details(sub.job_id)
    assert details["jobs"]["total"]["message"].startswith("dependency fy-dep-fails-prep ended FAILED")


def test_a_wrong_token_is_explained_and_not_retried(job_server: JobServer, tmp_path: Path) -> None:
    bad = HttpJobsConfig(url=job_server.url, token="wrong")
    started = time.monotonic()
    with pytest.raises(AuthError, match=r"refused our token.*HTTPJOBS_TOKEN") as info:
        _orchestrator(bad, tmp_path).run_pipeline(pipelines.two_units, run_id="bad-token")
    assert not isinstance(info.value, TransientBackendError)
    assert time.monotonic() - started < 5


def test_an_unreachable_server_is_transient_not_failed(config: HttpJobsConfig, job_server: JobServer, tmp_path):
    orchestrator = _orchestrator(config, tmp_path)
    sub = orchestrator.run_pipeline(pipelines.slow, run_id="gone", context={"seconds": 30})
    job_server.stop()
    with pytest.raises(TransientBackendError, match="httpjobs GET /jobs"):
        orchestrator.get_run_status(sub.job_id)


def test_a_job_over_its_timeout_ends_timed_out(job_server: JobServer, config: HttpJobsConfig, tmp_path: Path):
    sub = _orchestrator(config, tmp_path).run_pipeline(
        pipelines.slow, run_id="too-slow", context={"seconds": 30}, timeout=1
    )
    assert sub.wait_for_completion(timeout=30, poll_interval=0.1, raise_on_failure=False) is S.TIMED_OUT


# -- config and secrets ------------------------------------------------------------------------------
def test_the_token_never_reaches_run_metadata_or_to_dict(
    job_server: JobServer, config: HttpJobsConfig, tmp_path: Path
) -> None:
    orchestrator = RemoteOrchestrator(
        backend="httpjobs",
        config=HttpJobsConfig(url=job_server.url, token=TOKEN),
        artifact_store=(tmp_path / "a").as_uri(),
    )
    assert "token" not in orchestrator.to_dict() and TOKEN not in repr(orchestrator.config)
    sub = orchestrator.run_pipeline(pipelines.two_units, run_id="secret")
    stored = orchestrator.registry.get("secret").handle.to_json()
    assert TOKEN not in stored and "token" not in sub.handle.config
    assert sub.wait_for_completion(timeout=60, poll_interval=0.1) is S.COMPLETED
    details = orchestrator.get_run_details(sub.job_id)
    assert TOKEN not in json.dumps(details)
    assert {u: j["state"] for u, j in details["jobs"].items()} == {"prep": "SUCCEEDED", "total": "SUCCEEDED"}


def test_a_bad_url_in_flowyml_yaml_names_the_key(tmp_path: Path) -> None:
    from flowyml.config.loader import load_config

    path = tmp_path / "flowyml.yaml"
    path.write_text("stacks:\n  hj:\n    orchestrator: {type: httpjobs, url: 'ftp://nope'}\n")
    with pytest.raises(
        ConfigError,
        match=r"stacks\.hj\.orchestrator\.url: expected a value matching 'https\?://\.\+', found 'ftp://nope'",
    ):
        load_config(path)


# -- loading -----------------------------------------------------------------------------------------
def _cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env=cli_env(**(env or {})))


def test_the_plugin_loads_without_its_http_machinery() -> None:
    code = (
        "import sys; from flowyml.plugins.manager import get_plugin_manager; "
        "pm = get_plugin_manager(); assert 'httpjobs' in pm.backends, pm.records; "
        "assert 'urllib.request' not in sys.modules and 'flowyml_httpjobs.server' not in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_flowyml_plugins_lists_it_and_the_env_switches_choose() -> None:
    doc = json.loads(_cli("plugins", "--json").stdout)
    record = next(p for p in doc["plugins"] if p["name"] == "httpjobs")
    assert record["distribution"] == "flowyml-httpjobs" and not record["error"]
    assert record["hooks"] == ["flowyml_register_backends"]
    assert record["backends"] == ["httpjobs"]
    backend = next(b for b in doc["backends"] if b["name"] == "httpjobs")
    assert backend["native_states"]["FAILED"] == "FAILED"  # the state table is listed
    disabled = json.loads(_cli("plugins", "--json", env={"FLOWYML_DISABLE_PLUGINS": "httpjobs"}).stdout)
    assert "httpjobs" not in {b["name"] for b in disabled["backends"]}
    only = json.loads(_cli("plugins", "--json", env={"FLOWYML_LOAD_PLUGINS": "httpjobs"}).stdout)
    assert {b["name"] for b in only["backends"]} == {"local", "inprocess", "httpjobs"}  # core's built-ins stay


def test_the_tutorial_flow_from_the_cli(job_server: JobServer, tmp_path: Path) -> None:
    """docs/plugins/tutorial.md, step by step: the example flowyml.yaml, run --detach, status, logs, cancel."""
    work = tmp_path / "work"
    work.mkdir()
    text = (EXAMPLE / "flowyml.yaml").read_text()
    text = text.replace("http://127.0.0.1:8787", job_server.url)
    text = text.replace("file:///tmp/httpjobs-artifacts", (tmp_path / "artifacts").as_uri())
    (work / "flowyml.yaml").write_text(text)
    env = {"HTTPJOBS_TOKEN": TOKEN}
    shown = _cli("stack", "show", "httpjobs", env=env, cwd=work)
    assert shown.returncode == 0, shown.stderr
    assert TOKEN not in shown.stdout and "token" not in shown.stdout
    pipeline = str(EXAMPLE / "hello_pipeline.py")
    run = _cli("run", pipeline, "--stack", "httpjobs", "--detach", "--run-id", "hello-1", env=env, cwd=work)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "hello-1"
    logs = _cli("logs", "-f", "hello-1", env=env, cwd=work)
    assert "making 5 numbers" in logs.stdout and "adding up 5 numbers" in logs.stdout, logs.stdout + logs.stderr
    status = json.loads(_cli("status", "hello-1", "--json", env=env, cwd=work).stdout)
    assert status["status"] == "COMPLETED" and status["backend"] == "httpjobs" and status["job_id"] == "fy-hello-1"
    no_token = _cli("status", "hello-1", cwd=work, env={"HTTPJOBS_TOKEN": ""})
    assert no_token.returncode == 5 and "HTTPJOBS_TOKEN" in no_token.stderr  # 5: the backend refused
    slow = _cli("run", pipeline, "--stack", "httpjobs", "-d", "--run-id", "hello-2", "-p", "count=7", env=env, cwd=work)
    assert slow.returncode == 0, slow.stderr
    cancel = _cli("cancel", "hello-2", "--wait", "--json", env=env, cwd=work)
    assert cancel.returncode == 0, cancel.stderr
    assert json.loads(cancel.stdout)["status"] in {"CANCELLED", "COMPLETED"}


def test_the_tutorials_python_snippets_run(job_server: JobServer, tmp_path: Path) -> None:
    """The ```python blocks of docs/plugins/tutorial.md that are not included files, run for real."""
    import re

    text = (EXAMPLE.parents[1] / "docs" / "plugins" / "tutorial.md").read_text()
    blocks = [b for b in re.findall(r"^```python\n(.*?)^```", text, re.M | re.S) if "--8<--" not in b]
    assert len(blocks) >= 2
    code = "\n\n".join(blocks)
    code = code.replace("http://127.0.0.1:8787", job_server.url)
    code = code.replace("file:///tmp/httpjobs-artifacts", (tmp_path / "artifacts").as_uri())
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HTTPJOBS_TOKEN": TOKEN},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["fy-hello-3", "10", "['httpjobs',", "'inprocess',", "'local']"]


def test_the_tutorial_shows_the_plugin_and_its_kit_run_as_they_are() -> None:
    """docs/plugins/tutorial.md lists files inline (readable as plain markdown); they must be the files."""
    import re

    root = EXAMPLE.parents[1]
    text = (root / "docs" / "plugins" / "tutorial.md").read_text()
    listings = re.findall(r'^```python title="([^"]+)"\n(.*?)^```', text, re.M | re.S)
    assert {path for path, _ in listings} == {
        "examples/third_party_plugin/src/flowyml_httpjobs/__init__.py",
        "examples/third_party_plugin/src/flowyml_httpjobs/backend.py",
        "tests/plugins/test_httpjobs_contract.py",
    }
    for path, body in listings:
        assert body == (root / path).read_text(), f"the tutorial's listing of {path} is out of date"
    plugin_lines = sum(
        len((EXAMPLE / "src" / "flowyml_httpjobs" / f).read_text().splitlines()) for f in ("backend.py", "__init__.py")
    )
    assert plugin_lines <= 150, f"the worked plugin grew to {plugin_lines} lines"
