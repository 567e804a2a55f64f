"""flowyml.yaml: stacks load into attrs classes; every error names the file, the key path, expected and found."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowyml.backends.local.plugin import LocalConfig
from flowyml.config.loader import load_config
from flowyml.core.errors import ConfigError
from flowyml.core.resources import ResourceConfig


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flowyml.yaml"
    path.write_text(text)
    return path


def test_a_full_stack_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    path = write(
        tmp_path,
        """
default_stack: dev
stacks:
  dev:
    orchestrator: {type: local, max_parallel: 2, grace_period: 3}
    artifact_store: {uri: "file:///tmp/arts", settings: {token: "${MY_TOKEN}"}}
    resources: {cpu: 2, memory: 4Gi}
    docker: {image: "repo/img:1", env_vars: {A: "1"}}
""",
    )
    config = load_config(path)
    stack = config.stack()
    assert stack.name == "dev" and stack.backend == "local"
    assert stack.orchestrator == LocalConfig(max_parallel=2, grace_period=3.0)
    assert stack.resources == ResourceConfig(cpu="2", memory="4Gi")
    assert stack.artifact_store.settings == {"token": "s3cret"}
    assert stack.docker.image == "repo/img:1"
    assert "local" in config.stacks  # the built-in local stack is always there
    assert "s3cret" not in str(stack.to_dict()["docker"])


def test_no_file_means_the_local_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.path is None and config.stack().backend == "local"


def test_flowyml_stack_env_selects_the_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = write(tmp_path, "stacks:\n  other:\n    orchestrator: {type: local}\n")
    monkeypatch.setenv("FLOWYML_STACK", "other")
    assert load_config(path).stack().name == "other"
    monkeypatch.setenv("FLOWYML_STACK", "nope")
    with pytest.raises(ConfigError, match=r"flowyml.yaml: no stack named 'nope'; stacks: local, other"):
        load_config(path).stack()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "stacks:\n  prod:\n    orchestrator: {type: local, max_parallel: many}\n",
            "stacks.prod.orchestrator.max_parallel: expected int, found 'many'",
        ),
        (
            "stacks:\n  prod:\n    orchestrator: {type: local, grace: 3}\n",
            "stacks.prod.orchestrator: unknown key(s) grace; expected one of: max_parallel, grace_period",
        ),
        (
            "stacks:\n  prod:\n    orchestrator: {type: local, python: [1]}\n",
            "stacks.prod.orchestrator.python: expected a string, found list [1]",
        ),
        (
            "stacks:\n  prod:\n    orchestrator: {max_parallel: 1}\n",
            "stacks.prod.orchestrator: expected a mapping with a 'type'",
        ),
        (
            "stacks:\n  prod:\n    orchestrator: {type: nosuchbackend}\n",
            "stacks.prod.orchestrator.type: unknown backend 'nosuchbackend'; installed backends:",
        ),
        (
            "stacks:\n  prod:\n    orchestrator: {type: local}\n    resources: {cpu: 2, gpus: 1}\n",
            "stacks.prod.resources: unknown key(s) gpus",
        ),
        (
            "stacks:\n  prod:\n    orchestrator: {type: local}\n    artifact_store: {uri: 5, settings: []}\n",
            "stacks.prod.artifact_store.settings",
        ),
        (
            "stacks:\n  prod:\n    orchestrator: {type: local}\n    extra: 1\n",
            "stacks.prod: unknown key(s) extra; expected: artifact_store, docker, orchestrator, resources",
        ),
        ("stacks: [a, b]\n", "stacks: expected a mapping of stack names, found list"),
        ("stack:\n  prod: {}\n", "unknown top-level key(s) stack"),
        ("default_stack: prod\n", "default_stack: no stack named 'prod'"),
        (
            "stacks:\n  prod:\n    orchestrator: {type: local, workdir: '${NOT_SET_ANYWHERE}'}\n",
            "stacks.prod.orchestrator.workdir: environment variable NOT_SET_ANYWHERE is not set",
        ),
    ],
)
def test_each_error_names_the_file_the_key_path_and_what_was_expected(tmp_path: Path, text: str, expected: str):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert expected in message, message


def test_invalid_yaml_names_line_and_column(tmp_path: Path):
    path = write(tmp_path, "stacks:\n  prod: [unclosed\n")
    with pytest.raises(ConfigError, match=r"flowyml.yaml:\d+:\d+: not valid YAML"):
        load_config(path)


def test_missing_explicit_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "nope.yaml")


def test_env_default_syntax(tmp_path: Path):
    path = write(tmp_path, "stacks:\n  p:\n    orchestrator: {type: local, workdir: '${UNSET_X:-/srv}'}\n")
    assert load_config(path).stack("p").orchestrator.workdir == "/srv"


def test_secrets_never_appear_in_to_dict():
    import attrs

    from flowyml.orchestrators.base import redact_config

    @attrs.define(frozen=True)
    class Cfg:
        endpoint: str = "https://x"
        token: str = attrs.field(default="t0ps3cret", metadata={"secret": True})

    assert redact_config(Cfg()) == {"endpoint": "https://x"}
