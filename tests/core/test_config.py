"""flowyml.yaml: stacks load into attrs classes; every error names the file, the key path, expected and found."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowyml.backends.local.plugin import LocalConfig
from flowyml.config.errors import ConfigFieldError
from flowyml.config.loader import load_config
from flowyml.core.errors import ConfigError
from flowyml.core.resources import ResourceConfig
from tests.cli_process import cli_env, run_cli

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).parent / "config_corpus"


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
    with pytest.raises(
        ConfigError,
        match=r"flowyml.yaml: stacks: expected one of: local, other, found no stack named 'nope' \(from \$FLOWYML_",
    ):
        load_config(path).stack()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "stacks:\n  prod:\n    orchestrator: {type: local, grace: 3}\n",
            "stacks.prod.orchestrator: expected one of: max_parallel, grace_period, python, workdir, "
            "found unknown key(s) grace",
        ),
        (
            "stacks:\n  prod:\n    orchestrator: {type: local}\n    artifact_store: {uri: 5, settings: []}\n",
            "stacks.prod.artifact_store.settings: expected a mapping, found list []",
        ),
        (
            "stacks:\n  prod:\n    orchestrator: {type: local, max_parallel: x, grace_period: y}\n",
            "stacks.prod.orchestrator.max_parallel: expected int, found 'x'; 1 more problem in this section",
        ),
        (
            "stacks:\n  prod:\n    orchestrator: {type: local}\n    docker: {command: [python, 3.11, [x]]}\n",
            "stacks.prod.docker.command[2]: expected a string, found list ['x']",
        ),
    ],
)
def test_each_error_names_the_file_the_key_path_and_what_was_expected(tmp_path: Path, text: str, expected: str):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message == f"{path}: {expected}"


def test_invalid_yaml_names_line_and_column(tmp_path: Path):
    path = write(tmp_path, "stacks:\n  prod: [unclosed\n")
    with pytest.raises(ConfigError, match=r"flowyml.yaml:3:1: expected valid YAML, found a syntax error"):
        load_config(path)


def test_missing_explicit_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "nope.yaml")


def test_env_default_syntax(tmp_path: Path):
    path = write(tmp_path, "stacks:\n  p:\n    orchestrator: {type: local, workdir: '${UNSET_X:-/srv}'}\n")
    assert load_config(path).stack("p").orchestrator.workdir == "/srv"


def test_secrets_never_appear_in_to_dict():
    import attrs

    from flowyml.orchestrators.configs import redact_config

    @attrs.define(frozen=True)
    class Cfg:
        endpoint: str = "https://x"
        token: str = attrs.field(default="t0ps3cret", metadata={"secret": True})

    assert redact_config(Cfg()) == {"endpoint": "https://x"}


# -- reading: budgets and legitimate YAML features ---------------------------------------------------
def test_a_file_over_the_size_budget_is_refused_unparsed(tmp_path: Path):
    from flowyml.config.reader import MAX_BYTES

    path = tmp_path / "flowyml.yaml"
    path.write_text("stacks:\n  prod:\n    orchestrator: {type: local}\n# " + "x" * MAX_BYTES + "\n")
    started = time.perf_counter()
    with pytest.raises(ConfigFieldError, match=r"expected a file of at most 1024 KiB, found a larger file"):
        load_config(path)
    assert time.perf_counter() - started < 10.0  # refused unread: no runaway parse


def test_anchors_merge_keys_escapes_and_a_utf8_bom_still_load(tmp_path: Path):
    path = tmp_path / "flowyml.yaml"
    text = (
        "stacks:\n"
        "  base:\n    orchestrator: &defaults {type: local, grace_period: 3}\n"
        "  a:\n    orchestrator: {<<: *defaults, max_parallel: 2}\n"
        "  b:\n    orchestrator: *defaults\n"
        "    docker: {env_vars: {PRICE: 'costs $${CURRENCY} 5', HOME_DIR: '${HOME}'}}\n"
    )
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    config = load_config(path)
    assert config.stack("a").orchestrator == LocalConfig(max_parallel=2, grace_period=3.0)
    assert config.stack("b").orchestrator == LocalConfig(grace_period=3.0)
    assert config.stack("b").docker.env_vars["PRICE"] == "costs ${CURRENCY} 5"  # $${ is a literal ${
    assert config.stack("b").docker.secrets["HOME_DIR"] == "env://HOME"  # by reference, never the value


def test_integral_floats_and_numeric_strings_are_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PARALLEL", "4")
    path = write(
        tmp_path,
        "stacks:\n  p:\n    orchestrator: {type: local, max_parallel: '${PARALLEL}', grace_period: 2}\n"
        "    resources: {gpu_count: 2.0, cpu: 500m, memory: 1.5Gi}\n",
    )
    stack = load_config(path).stack("p")
    assert stack.orchestrator == LocalConfig(max_parallel=4, grace_period=2.0)
    assert stack.resources == ResourceConfig(cpu="500m", memory="1.5Gi", gpu_count=2)


def test_field_errors_pickle_with_their_parts():
    import pickle

    error = ConfigFieldError.missing("job_queue", "a queue").located("flowyml.yaml", "stacks.p.orchestrator")
    copy = pickle.loads(pickle.dumps(error))
    assert (
        str(copy)
        == str(error)
        == ("flowyml.yaml: stacks.p.orchestrator.job_queue: required field missing: expected a queue, found nothing")
    )
    assert (copy.file, copy.key, copy.expected, copy.found) == (error.file, error.key, "a queue", "nothing")


@pytest.mark.parametrize("name", ["budget-billion-laughs.yaml", "budget-deep-flow-5000.yaml", "enc-utf16-le-bom.yaml"])
def test_the_real_cli_process_fails_fast_without_a_traceback(name: str, flowyml_home: Path):
    path = CORPUS / name
    started = time.perf_counter()
    proc = run_cli("--config", str(path), "stack", "validate", timeout=60)
    assert time.perf_counter() - started < 20
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"flowyml: {path}") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr


# -- using stacks: validation before any SDK; stacks whose backend is not installed ---------------------
MULTI_CLOUD = """
default_stack: dev
stacks:
  dev:
    orchestrator: {type: local}
  aws-prod:
    orchestrator: {type: aws_batch, region: eu-west-1, job_queue: ml, job_definition: flowyml}
    artifact_store: {uri: "s3://bucket/flowyml"}
  gcp-prod:
    orchestrator: {type: vertex_ai, project_id: my-project, region: europe-west1}
  az-prod:
    orchestrator: {type: azureml, subscription_id: s, resource_group: rg, workspace_name: ws, compute: cpu}
  mixed:
    orchestrator: {type: local}
    artifact_store: {uri: "gs://bucket/flowyml"}
"""


def _cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env=cli_env(**env))


@pytest.mark.skipif(importlib.util.find_spec("flowyml_aws") is None, reason="needs flowyml[aws]")
def test_a_multi_cloud_file_works_with_one_extra_installed(tmp_path: Path, flowyml_home: Path):
    (tmp_path / "flowyml.yaml").write_text(MULTI_CLOUD)
    only_aws = {"FLOWYML_LOAD_PLUGINS": "aws"}  # entry points other than flowyml-aws are not loaded
    listed = _cli("stack", "list", cwd=tmp_path, **only_aws)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "  aws-prod  (aws_batch)",
        "  az-prod  (azureml: needs flowyml[azure])",
        "* dev  (local)",
        "  gcp-prod  (vertex_ai: needs flowyml[gcp])",
        "  local  (local)",
        "  mixed  (local)",
    ]
    as_json = json.loads(_cli("stack", "list", "--json", cwd=tmp_path, **only_aws).stdout)
    assert as_json["unavailable"] == {"az-prod": "needs flowyml[azure]", "gcp-prod": "needs flowyml[gcp]"}
    assert _cli("stack", "validate", "aws-prod", cwd=tmp_path, **only_aws).stdout == "aws-prod: ok\n"
    ran = _cli("run", f"{ROOT}/tests/core/lifecycle_pipelines.py:quick", "--stack", "dev", cwd=tmp_path, **only_aws)
    assert ran.returncode == 0 and "COMPLETED" in ran.stdout + ran.stderr, ran.stderr
    used = _cli(
        "run", f"{ROOT}/tests/core/lifecycle_pipelines.py:quick", "--stack", "gcp-prod", cwd=tmp_path, **only_aws
    )
    assert used.returncode != 0 and "Traceback" not in used.stderr
    assert (
        used.stderr.startswith(
            f"flowyml: {tmp_path / 'flowyml.yaml'}: stacks.gcp-prod.orchestrator.type: needs flowyml[gcp]: "
        )
        and "pip install ./flowyml-gcp (from the root of a clone of the flowyml repository)" in used.stderr
    ), used.stderr
    shown = _cli("stack", "show", "gcp-prod", "--json", cwd=tmp_path, **only_aws)
    assert json.loads(shown.stdout)["unavailable"] == "needs flowyml[gcp]"
    store = _cli("stack", "validate", "mixed", cwd=tmp_path, **only_aws)
    assert store.returncode != 0 and store.stderr.startswith(
        f"flowyml: {tmp_path / 'flowyml.yaml'}: stacks.mixed.artifact_store.uri: needs flowyml[gcp]: "
    ), store.stderr
    every = _cli("stack", "validate", cwd=tmp_path, **only_aws)
    assert every.returncode == 2 and every.stdout.splitlines() == ["aws-prod: ok", "dev: ok", "local: ok"]
    assert every.stderr.splitlines()[-1].endswith("flowyml.yaml: 3 of 6 stacks are not valid"), every.stderr


@pytest.mark.skipif(importlib.util.find_spec("flowyml_azure") is None, reason="needs flowyml[azure]")
def test_validating_an_azureml_stack_builds_no_credential_and_calls_nothing(tmp_path: Path, flowyml_home: Path):
    (tmp_path / "flowyml.yaml").write_text(MULTI_CLOUD)
    probe = (
        "import sys\n"
        "from flowyml.testing import egress\n"
        "egress.install()\n"
        "from flowyml.cli.main import main\n"
        "code = main(['stack', 'validate', 'az-prod'])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('azure.identity', 'azure.ai.ml', 'azure.core')))\n"
        "print(code, loaded)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.stdout.splitlines()[-1] == "0 []", proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[0] == "az-prod: ok"


def test_an_orchestrator_is_validated_before_it_is_built(tmp_path: Path):
    from flowyml.orchestrators import get_orchestrator

    path = write(tmp_path, "stacks:\n  p:\n    orchestrator: {type: local, workdir: /nonexistent/flowyml-workdir}\n")
    with pytest.raises(ConfigFieldError) as info:
        get_orchestrator("p", config_path=str(path))
    assert info.value.key == "stacks.p.orchestrator.workdir" and info.value.file == str(path)


def test_a_local_store_for_a_backend_whose_jobs_run_elsewhere_fails_validation(tmp_path: Path):
    from flowyml.plugins import Backend
    from flowyml.plugins.manager import get_plugin_manager

    class FarAway(Backend):
        name = "faraway"
        needs_remote_store = True

    get_plugin_manager().register_backend(FarAway())
    path = write(
        tmp_path,
        "stacks:\n"
        "  explicit:\n    orchestrator: {type: faraway}\n    artifact_store: {uri: /tmp/artifacts}\n"
        "  default:\n    orchestrator: {type: faraway}\n"
        "  mounted:\n    orchestrator: {type: faraway}\n"
        "    artifact_store: {uri: /mnt/shared, settings: {shared: 'true'}}\n",
    )
    config = load_config(path)
    for name in ("explicit", "default"):
        with pytest.raises(
            ConfigError, match=rf"^{path}: stacks\.{name}\.artifact_store\.uri: the faraway backend runs"
        ):
            config.validate_stack(name)
    assert config.validate_stack("mounted").name == "mounted"


def _bad_url(_inst: object, _attr: object, value: str) -> None:
    if not value.startswith("http"):
        raise ValueError(f"url: expected http(s)://host:port, found {value!r}")


def _positive(_inst: object, attr: object, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{getattr(attr, 'name', '?')} must be > 0, got {value}")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"url": "ftp://x"}, "stacks.p.orchestrator.url: expected http(s)://host:port, found 'ftp://x'"),
        ({"count": 0}, "stacks.p.orchestrator.count: expected a value > 0, found 0"),
        ({"ratio": -1.0}, "stacks.p.orchestrator.ratio: expected a value >= 0, found -1.0"),
        ({"name": "x y"}, "stacks.p.orchestrator.name: expected a value matching '^\\\\w+$', found 'x y'"),
    ],
)
def test_a_config_class_validator_message_becomes_the_fields_error(data: dict, expected: str):
    import attrs

    from flowyml.config.structure import structure

    @attrs.define(frozen=True)
    class Settings:
        url: str = attrs.field(default="http://x", validator=_bad_url)
        count: int = attrs.field(default=1, validator=_positive)
        ratio: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
        name: str = attrs.field(default="x", validator=attrs.validators.matches_re(r"^\w+$"))

    with pytest.raises(ConfigFieldError) as info:
        structure(Settings, data, "flowyml.yaml", "stacks.p.orchestrator")
    assert str(info.value) == f"flowyml.yaml: {expected}"
