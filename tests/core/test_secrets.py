"""Secrets stay out of run metadata: values from ``${...}`` travel by reference, are resolved in the
job, and are masked in its logs (issue 16, item 4)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import types
from pathlib import Path

import pytest

from flowyml.config.errors import ConfigFieldError
from flowyml.config.loader import load_config
from flowyml.core.errors import ConfigError, RunFailedError
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators.registry import RunRegistry
from flowyml.orchestrators.remote import RemoteOrchestrator
from flowyml.plugins import Backend, JobSpec, RunHandle, hookimpl
from flowyml.plugins.manager import get_plugin_manager
from flowyml.plugins.types import PipelineRef, UnitSpec
from tests.cli_process import cli_env, run_cli

ROOT = Path(__file__).resolve().parents[2]
# A quote and a backslash: JSON escapes them, so masking must happen before encoding too.
SECRET = 'tok"XYZZY\\91f3-api'
MARK = "XYZZY"  # what a leak of SECRET would contain in any encoding
WORKDIR_MARK = "wd-PLUGH-77"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flowyml.yaml"
    path.write_text(text)
    return path


STACK = """
stacks:
  dev:
    orchestrator: {type: local, workdir: "${SECRET_WORKDIR}", grace_period: 2}
    docker:
      env_vars:
        API_TOKEN: ${MY_SECRET}
        PLAIN: visible
"""


@pytest.fixture
def secret_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    workdir = tmp_path / WORKDIR_MARK
    workdir.mkdir()
    monkeypatch.setenv("MY_SECRET", SECRET)
    monkeypatch.setenv("SECRET_WORKDIR", str(workdir))
    monkeypatch.chdir(ROOT)  # the pipeline module is tests.core.secrets_pipelines
    return write(tmp_path, STACK)


def leaks(root: Path, *marks: str) -> list[str]:
    """Every file under ``root`` whose bytes contain one of ``marks``."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.relative_to(root)}: {m}" for m in marks if m.encode() in data]
    return found


# -- flowyml.yaml ------------------------------------------------------------------------------------
def test_env_vars_from_dollar_references_load_as_references(secret_env: Path):
    stack = load_config(secret_env).stack("dev")
    assert stack.docker is not None
    assert stack.docker.env_vars == {"PLAIN": "visible"}
    assert stack.docker.secrets == {"API_TOKEN": "env://MY_SECRET"}
    shown = json.dumps(stack.to_dict())
    assert MARK not in shown and WORKDIR_MARK not in shown
    assert stack.to_dict()["orchestrator"]["workdir"] == "${SECRET_WORKDIR}"  # the template as written
    assert stack.orchestrator.workdir.endswith(WORKDIR_MARK)  # the value, in memory only


def test_secret_mappings_are_references_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STAGE", "prod")
    text = (
        "stacks:\n  p:\n    orchestrator: {type: local}\n    docker:\n      env_vars:\n"
        "        API_TOKEN: {secret: 'aws-sm://${STAGE}/api-token'}\n        LEVEL: '${UNSET_LEVEL:-info}'\n"
    )
    docker = load_config(write(tmp_path, text)).stack("p").docker
    assert docker is not None
    assert docker.secrets == {"API_TOKEN": "aws-sm://prod/api-token"}
    assert docker.env_vars == {"LEVEL": "info"}  # a default, not a value from the environment


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("'Bearer ${MY_SECRET}'", "stacks.p.docker.env_vars.API_TOKEN: expected a whole ${VAR}"),
        ("{secret: 'no-scheme'}", "stacks.p.docker.env_vars.API_TOKEN.secret: expected {secret: 'scheme://name'}"),
        ("{secret: 'aws-sm://x', extra: 1}", "stacks.p.docker.env_vars.API_TOKEN: expected {secret:"),
    ],
)
def test_bad_secret_values_name_the_key_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value, expected):
    monkeypatch.setenv("MY_SECRET", SECRET)
    path = write(tmp_path, f"stacks:\n  p:\n    orchestrator: {{type: local}}\n    docker:\n      env_vars:\n"
                           f"        API_TOKEN: {value}\n")  # fmt: skip
    with pytest.raises(ConfigFieldError) as info:
        load_config(path)
    assert expected in str(info.value) and MARK not in str(info.value)


# -- the local backend, end to end --------------------------------------------------------------------
def test_a_secret_reaches_the_step_and_is_written_nowhere(secret_env: Path, flowyml_home: Path):
    from tests.core.secrets_pipelines import token

    orchestrator = load_config(secret_env).orchestrator("dev")
    result = orchestrator.run_pipeline(token, run_id="secret-ok")
    assert result.wait_for_completion(timeout=120, poll_interval=0.2).is_successful
    assert result.get_output("digest") == hashlib.sha256(SECRET.encode()).hexdigest()  # the unit saw the value

    from flowyml.backends.local.paths import run_dir as local_run_dir

    run_dir = local_run_dir("secret-ok")
    spec = json.loads((run_dir / "job.json").read_text())
    assert spec["secrets"] == {"API_TOKEN": "env://MY_SECRET"} and spec["env"] == {"PLAIN": "visible"}
    assert json.loads((run_dir / "config.json").read_text())["workdir"] == "${SECRET_WORKDIR}"
    logs = "\n".join(r.message for r in result.logs())
    assert "the token is ***" in logs  # the step printed it; the runner masked it
    details = json.dumps(orchestrator.get_run_details("secret-ok"))
    assert not leaks(flowyml_home, MARK, WORKDIR_MARK)  # registry db, job.json, config.json, logs, state, artifacts
    assert MARK not in logs and MARK not in details and WORKDIR_MARK not in details
    rows = sqlite3.connect(RunRegistry().path).execute("SELECT * FROM runs").fetchall()
    assert rows and MARK not in repr(rows) and WORKDIR_MARK not in repr(rows)


def test_a_secret_quoted_in_a_step_error_is_masked(secret_env: Path, flowyml_home: Path, monkeypatch):
    from tests.core.secrets_pipelines import token

    monkeypatch.setenv("LEAK_IN_ERROR", "1")
    result = load_config(secret_env).orchestrator("dev").run_pipeline(token, run_id="secret-err")
    with pytest.raises(RunFailedError) as info:
        result.wait_for_completion(timeout=120, poll_interval=0.2)
    assert "refused token ***" in str(info.value)
    assert not leaks(flowyml_home, MARK)


def test_re_attaching_resolves_templates_again(secret_env: Path, flowyml_home: Path, monkeypatch):
    from tests.core.secrets_pipelines import token

    orchestrator = load_config(secret_env).orchestrator("dev")
    orchestrator.run_pipeline(token, run_id="secret-attach").wait_for_completion(timeout=120, poll_interval=0.2)
    handle = RunRegistry().get("secret-attach").handle
    assert handle.config["workdir"] == "${SECRET_WORKDIR}"
    monkeypatch.delenv("FLOWYML_CONFIG", raising=False)
    monkeypatch.chdir(flowyml_home.parent)  # no flowyml.yaml here: the stored config is used
    again = RemoteOrchestrator.for_handle(handle)
    assert again.config.workdir == os.environ["SECRET_WORKDIR"] and again.config.grace_period == 2


def test_store_settings_from_dollar_are_written_down_as_written(
    tmp_path: Path, flowyml_home: Path, monkeypatch: pytest.MonkeyPatch
):
    from tests.core.secrets_pipelines import token

    monkeypatch.setenv("STORE_NOTE", "note-FROBOZZ-51")
    monkeypatch.setenv("API_TOKEN", "x")
    monkeypatch.chdir(ROOT)
    text = (
        "stacks:\n  dev:\n    orchestrator: {type: local}\n"
        '    artifact_store: {settings: {note: "${STORE_NOTE}", literal: "a$${b}"}}\n'
    )
    orchestrator = load_config(write(tmp_path, text)).orchestrator("dev")
    assert orchestrator.store_settings == {"note": "note-FROBOZZ-51", "literal": "a${b}"}  # in memory: values
    run = orchestrator.run_pipeline(token, run_id="store-template")
    assert run.wait_for_completion(timeout=120, poll_interval=0.2) is ExecutionStatus.COMPLETED
    handle = RunRegistry().get("store-template").handle
    assert handle.metadata["store_settings"] == {"note": "${STORE_NOTE}", "literal": "a$${b}"}
    assert leaks(flowyml_home, "FROBOZZ") == []  # registry, job.json, the local run's files
    again = RemoteOrchestrator.for_handle(handle)  # resolved again from this process's environment
    assert again.store_settings == {"note": "note-FROBOZZ-51", "literal": "a${b}"}
    assert again.get_run_status("store-template") is ExecutionStatus.COMPLETED


# -- refused at submit when the backend's jobs cannot get the secret ----------------------------------
class _NoSecrets(Backend):
    name = "nosecrets"
    needs_remote_store = False

    def submit(self, spec: JobSpec, config: object) -> RunHandle:
        raise AssertionError("a refused secret must stop the submit before the backend is called")


class _VaultOnly(_NoSecrets):
    name = "vaultonly"
    secret_schemes = frozenset({"vault"})


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        (_NoSecrets(), "the nosecrets backend offers no secret mechanism"),
        (_VaultOnly(), 'write `API_TOKEN: {secret: "vault://..."}`'),
    ],
)
def test_a_secret_with_no_way_to_the_job_is_refused_at_submit(secret_env, flowyml_home, backend, message):
    from tests.core.secrets_pipelines import token

    get_plugin_manager().register_backend(backend)
    stack = load_config(secret_env).stack("dev")
    orchestrator = RemoteOrchestrator(backend=backend.name, docker_config=stack.docker)
    with pytest.raises(ConfigError) as info:
        orchestrator.run_pipeline(token, run_id="refused")
    text = str(info.value)
    assert text.startswith("docker.env_vars.API_TOKEN: its value (${MY_SECRET}) is only in this machine's environment")
    assert message in text and MARK not in text
    assert not (flowyml_home / "artifacts" / "runs" / "refused").exists()  # nothing was written


# -- the hook: a plugin's resolver, called by the step-runner ----------------------------------------
def test_hook_register_secrets(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    from flowyml import runner
    from flowyml.core import capture
    from flowyml.secrets import Masker

    seen: list[str] = []

    @hookimpl
    def flowyml_register_secrets(register):
        register("vault", lambda path: seen.append(path) or f"value-of-{path}", description="test vault")

    pm = get_plugin_manager()
    pm.register(types.SimpleNamespace(flowyml_register_secrets=flowyml_register_secrets), name="vault-plugin")
    assert {"env", "vault"} <= set(pm.secret_resolvers)
    assert pm.records["vault-plugin"].secrets == ["vault"]
    monkeypatch.setattr(capture, "redact", None)
    monkeypatch.setattr(runner, "mask", Masker())
    monkeypatch.setenv("DB_PASSWORD", "placeholder")  # restored after the test
    monkeypatch.setenv("FROM_ENV", "placeholder")
    monkeypatch.setenv("SOURCE_VAR", "env-held-value")
    spec = JobSpec(
        run_id="r1", pipeline_name="p", pipeline=PipelineRef(module="m"), units=[UnitSpec(name="u", steps=["u"])],
        artifact_root="file:///tmp/a", secrets={"DB_PASSWORD": "vault://db/prod", "FROM_ENV": "env://SOURCE_VAR"},
    )  # fmt: skip
    runner.load_secrets(spec)
    assert seen == ["db/prod"]
    assert os.environ["DB_PASSWORD"] == "value-of-db/prod" and os.environ["FROM_ENV"] == "env-held-value"
    print("password value-of-db/prod and env-held-value")
    sys.stdout.flush()
    assert "password *** and ***" in capsys.readouterr().out
    with capture.capture_output() as captured:  # what the executor keeps of a step's output
        print("again: value-of-db/prod")
    assert captured.getvalue() == "again: ***\n"
    pm.unregister("vault-plugin")
    assert "vault" not in pm.secret_resolvers


def test_an_unresolvable_secret_fails_the_unit_naming_the_reference(monkeypatch: pytest.MonkeyPatch):
    from flowyml import runner
    from flowyml.secrets import Masker, SecretError

    monkeypatch.setattr(runner, "mask", Masker())
    monkeypatch.delenv("NOT_THERE", raising=False)
    spec = JobSpec(
        run_id="r1", pipeline_name="p", pipeline=PipelineRef(module="m"), units=[UnitSpec(name="u", steps=["u"])],
        artifact_root="file:///tmp/a", secrets={"A": "env://NOT_THERE", "B": "nope://x"},
    )  # fmt: skip
    with pytest.raises(SecretError, match=r"secret A \(env://NOT_THERE\): environment variable NOT_THERE is not set"):
        runner.load_secrets(spec)
    spec = JobSpec.from_dict({**spec.to_dict(), "secrets": {"B": "nope://x"}})
    with pytest.raises(SecretError, match=r"secret B \(nope://x\): no installed plugin resolves nope:// secrets"):
        runner.load_secrets(spec)


def test_the_cli_shows_references_and_masked_logs_only(secret_env: Path, flowyml_home: Path):

    env = cli_env(FLOWYML_CONFIG=str(secret_env))

    def cli(*args: str) -> str:
        proc = run_cli(*args, cwd=ROOT, env=env, timeout=180, check=True)
        return proc.stdout + proc.stderr

    outputs = [cli("run", "tests/core/secrets_pipelines.py:token", "--stack", "dev", "--json")]
    run_id = json.loads(outputs[0])["run_id"]
    outputs += [
        cli("logs", run_id),
        cli("status", run_id, "--json"),
        cli("runs", "--json"),
        cli("stack", "show", "dev"),
    ]
    assert "the token is ***" in outputs[1]
    assert "env://MY_SECRET" in outputs[4] and "${SECRET_WORKDIR}" in outputs[4]
    assert not [out for out in outputs if MARK in out or WORKDIR_MARK in out]
    assert not leaks(flowyml_home, MARK, WORKDIR_MARK)
