"""The malformed-configuration corpus: every file in ``config_corpus/`` is one clear ``ConfigError``.

Each case is checked three ways: ``load_config(path).validate_stack("prod")`` raises a
``ConfigFieldError`` with the file, the key path, what was expected and what was found; and
``flowyml stack validate prod`` and ``flowyml run PIPELINE --stack prod`` exit 2 with exactly that
one line on stderr, nothing on stdout, nothing submitted, no traceback, within a time budget.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flowyml.cli.main import main
from flowyml.config.errors import ConfigFieldError
from flowyml.config.loader import load_config
from flowyml.orchestrators.registry import RunRegistry

CORPUS = Path(__file__).parent / "config_corpus"
PIPELINE = Path(__file__).parent / "lifecycle_pipelines.py"
# per file, the alias bomb and the 5000-deep file included: catches a runaway (the unbudgeted bomb took
# ~100 s); not a benchmark
SECONDS = 30.0

S = "stacks.prod"
O = "stacks.prod.orchestrator"  # noqa: E741
YAML = "valid YAML"
UTF8 = "UTF-8 text"
NAME = "a stack name of letters, digits"
ENV = "${NAME} or ${NAME:-default}"

# file -> (key path, fragment of what was expected, fragment of what was found)
CASES: dict[str, tuple[str, str, str]] = {
    # bytes that are not UTF-8 YAML
    "enc-utf16-le-bom.yaml": ("", UTF8, "UTF-16 (a byte order mark)"),
    "enc-utf16-be-bom.yaml": ("", UTF8, "UTF-16 (a byte order mark)"),
    "enc-utf16-no-bom.yaml": ("", UTF8, "NUL bytes"),
    "enc-utf32-bom.yaml": ("", UTF8, "UTF-32"),
    "enc-latin1.yaml": ("", UTF8, "byte 0xe9"),
    "enc-truncated-utf8.yaml": ("", UTF8, "byte 0xc3"),
    "enc-nul-byte.yaml": ("", UTF8, "NUL bytes"),
    "enc-control-char.yaml": ("", "printable text", "U+0007"),
    # YAML syntax
    "yaml-unclosed-flow.yaml": ("", YAML, "while parsing a flow sequence"),
    "yaml-tab-indent.yaml": ("", YAML, "'\\t'"),
    "yaml-bad-indent.yaml": ("", YAML, "mapping values are not allowed here"),
    "yaml-unclosed-quote.yaml": ("", YAML, "unexpected end of stream"),
    "yaml-two-documents.yaml": ("", "one YAML document", "a second document"),
    "yaml-undefined-alias.yaml": ("", "an alias to an anchor defined before it", "*nope"),
    "yaml-python-tag.yaml": ("", "plain YAML values (no tags)", "python/object/apply:os.system"),
    "yaml-custom-tag.yaml": ("", "plain YAML values (no tags)", "'!secret'"),
    "yaml-complex-key.yaml": ("", "keys that are plain values (strings)", "a list or a mapping as a key"),
    # budgets: depth, alias expansion, recursion
    "budget-deep-flow-5000.yaml": ("stacks.prod[0][0]", "at most 64 levels of nesting", "deeper nesting"),
    "budget-deep-block-100.yaml": ("k0.k1.k2", "at most 64 levels of nesting", "deeper nesting"),
    "budget-recursive-alias-seq.yaml": ("stacks.prod[0]", "an alias to a finished value", "*loop inside itself"),
    "budget-recursive-alias-map.yaml": (f"{O}", "an alias to a finished value", "*loop inside itself"),
    "budget-billion-laughs.yaml": ("e[", "at most 100000 values once aliases are expanded", "alias bomb"),
    "budget-string-bomb.yaml": (
        "stacks.prod.docker.command[",
        "at most 4 MiB of text once aliases are expanded",
        "alias bomb",
    ),
    "budget-merge-bomb.yaml": ("x5.<<[", "at most 100000 values once aliases are expanded", "alias bomb"),
    # duplicate keys: refused, not last-one-wins
    "dup-top-stacks.yaml": ("stacks", "each key once", "'stacks' again (first on line 2)"),
    "dup-stack-name.yaml": ("stacks.prod", "each key once", "'prod' again (first on line 3)"),
    "dup-orchestrator-setting.yaml": (f"{O}.max_parallel", "each key once", "'max_parallel' again"),
    "dup-env-var.yaml": (f"{S}.docker.env_vars.MODE", "each key once", "'MODE' again (first on line 7)"),
    # the top level
    "top-list.yaml": ("", "a mapping with the keys default_stack, pipeline_module, stacks", "list ['stacks', 'prod']"),
    "top-scalar.yaml": ("", "a mapping with the keys", "'just some text'"),
    "top-unknown-key.yaml": ("", "only the top-level keys", "unknown top-level key(s) stack"),
    "default-stack-list.yaml": ("default_stack", "the name of a stack", "list ['prod', 'dev']"),
    "default-stack-int.yaml": ("default_stack", "the name of a stack", "int 3"),
    "default-stack-null.yaml": ("default_stack", "the name of a stack", "null"),
    "default-stack-unknown.yaml": ("default_stack", "one of the stacks (local, prod)", "no stack named 'production'"),
    "pipeline-module-list.yaml": ("pipeline_module", "'package.module[:attribute]'", "list ['pipelines.train'"),
    "pipeline-module-bad-attribute.yaml": (
        "pipeline_module",
        "'package.module[:attribute]'",
        "'pipelines.train:my pipeline'",
    ),
    "stacks-list.yaml": ("stacks", "a mapping of stack names to stacks", "list ['prod', 'dev']"),
    "stacks-string.yaml": ("stacks", "a mapping of stack names to stacks", "'prod'"),
    # stack names and bodies
    "stack-key-null.yaml": ("stacks", NAME, "null"),
    "stack-key-int.yaml": ("stacks", NAME, "int 2024"),
    "stack-key-bool.yaml": ("stacks", NAME, "bool true"),
    "stack-name-traversal.yaml": ("stacks", NAME, "'../../x'"),
    "stack-name-space.yaml": ("stacks", NAME, "'my stack'"),
    "stack-name-300-chars.yaml": ("stacks", NAME, "300 characters"),
    "stack-name-dots.yaml": ("stacks", NAME, "'..'"),
    "stack-name-command.yaml": ("stacks", NAME, "'$(reboot)'"),
    "stack-body-null.yaml": (S, "a mapping with an orchestrator", "null"),
    "stack-body-list.yaml": (S, "a mapping with an orchestrator", "list ['local']"),
    "stack-unknown-key.yaml": (S, "one of: artifact_store, docker, orchestrator, resources", "unknown key(s) extra"),
    "stack-no-orchestrator.yaml": (O, "a mapping with a type", "nothing"),
    "orchestrator-string.yaml": (O, "a mapping with a type", "'local'"),
    "orchestrator-no-type.yaml": (f"{O}.type", "a backend name such as local", "nothing"),
    "orchestrator-type-list.yaml": (f"{O}.type", "a backend name such as local", "list ['local', 'aws_batch']"),
    # field types of a backend's settings
    "max-parallel-float.yaml": (f"{O}.max_parallel", "int", "float 2.7"),
    "max-parallel-word.yaml": (f"{O}.max_parallel", "int", "'many'"),
    "max-parallel-negative.yaml": (f"{O}.max_parallel", "a value >= 0", "-1"),
    "max-parallel-bool.yaml": (f"{O}.max_parallel", "int", "bool true"),
    "grace-period-nan.yaml": (f"{O}.grace_period", "a number (not NaN)", "float nan"),
    "orchestrator-unknown-setting.yaml": (
        O,
        "one of: max_parallel, grace_period, python, workdir",
        "unknown key(s) grace",
    ),
    "python-list.yaml": (f"{O}.python", "a string", "list ['python3', '-X', 'dev']"),
    # resources
    "memory-lots.yaml": (f"{S}.resources.memory", "a size such as 512Mi, 4Gi or 2G", "'lots'"),
    "memory-negative.yaml": (f"{S}.resources.memory", "a size such as 512Mi", "'-4Gi'"),
    "cpu-word.yaml": (f"{S}.resources.cpu", "a CPU count such as 2, 0.5 or 500m", "'two'"),
    "cpu-zero.yaml": (f"{S}.resources.cpu", "(more than 0)", "'0'"),
    "disk-word.yaml": (f"{S}.resources.disk", "a size such as 100Gi", "'big'"),
    "gpu-count-float.yaml": (f"{S}.resources.gpu_count", "int", "float 1.5"),
    "gpu-count-negative.yaml": (f"{S}.resources.gpu_count", "a value >= 0", "-1"),
    "resources-unknown-key.yaml": (f"{S}.resources", "one of: cpu, memory, gpu, gpu_count", "unknown key(s) gpus"),
    "resources-list.yaml": (f"{S}.resources", "a mapping", "list ['cpu', 'memory']"),
    # docker and the artifact store
    "docker-env-list.yaml": (f"{S}.docker.env_vars", "a mapping", "list ['MODE=train']"),
    "docker-env-null.yaml": (f"{S}.docker.env_vars.MODE", "a string", "null"),
    "docker-command-string.yaml": (f"{S}.docker.command", "a list", "'python train.py'"),
    "docker-image-mapping.yaml": (f"{S}.docker.image", "a string", "mapping {'repo': 'x', 'tag': 1}"),
    "store-settings-list.yaml": (f"{S}.artifact_store.settings", "a mapping", "list ['a', 'b']"),
    "store-string.yaml": (f"{S}.artifact_store", "a mapping", "'s3://bucket/flowyml'"),
    "store-unknown-key.yaml": (f"{S}.artifact_store", "one of: uri, settings", "unknown key(s) url"),
    # ${ENV} interpolation
    "env-unterminated.yaml": (f"{O}.workdir", ENV, "'${HOME/runs' (no closing '}')"),
    "env-unterminated-default.yaml": (f"{S}.docker.image", ENV, "'${IMAGE:-python:3.11' (no closing '}')"),
    "env-bad-name.yaml": (f"{O}.workdir", ENV, "'${1DIR}'"),
    "env-empty.yaml": (f"{S}.docker.env_vars.TOKEN", ENV, "'${}'"),
    "env-unset.yaml": (f"{O}.workdir", "${FLOWYML_CORPUS_UNSET} to name a set variable", "no such variable"),
    # paths the local backend would trip on at run time: validate finds them first
    "local-workdir-missing.yaml": (f"{O}.workdir", "an existing directory", "no such directory"),
    "local-workdir-file.yaml": (f"{O}.workdir", "an existing directory", "a file ('/dev/null')"),
    "local-python-missing.yaml": (
        f"{O}.python",
        "an executable",
        "no such file ('/nonexistent/flowyml-corpus/python3')",
    ),
    "local-python-not-on-path.yaml": (f"{O}.python", "an executable", "no such file ('flowyml-corpus-no-such-python')"),
    # cloud settings: required fields and field rules, with the file and the key path
    "aws-batch-no-queue.yaml": (f"{O}.job_queue", "the Batch job queue", "nothing"),
    "aws-batch-no-definition.yaml": (f"{O}.job_definition", "the Batch job definition", "nothing"),
    "aws-batch-retry-zero.yaml": (f"{O}.retry_attempts", "a number > 0", "int 0"),
    "aws-batch-tags-list.yaml": (f"{O}.tags", "a mapping", "list ['team']"),
    "sagemaker-no-role.yaml": (f"{O}.role_arn", "the execution role's ARN", "nothing"),
    "sagemaker-role-not-arn.yaml": (f"{O}.role_arn", "the execution role's ARN", "'my-role'"),
    "vertex-no-project.yaml": (f"{O}.project_id", "the Google Cloud project id", "nothing"),
    "vertex-bad-region.yaml": (f"{O}.region", "a GCP region such as 'europe-west1'", "'Europe West'"),
    "vertex-staging-not-gs.yaml": (f"{O}.staging_bucket", "a gs:// URI", "'s3://b'"),
    "azureml-no-subscription.yaml": (f"{O}.subscription_id", "the Azure subscription id", "nothing"),
    "azureml-bad-compute.yaml": (f"{O}.compute", "a compute name", "'cpu cluster'"),
    "azureml-bad-credential.yaml": (f"{O}.credential", "one of default, cli, managed_identity", "'hunter2'"),
    "azureml-http-endpoint.yaml": (f"{O}.arm_endpoint", "an https:// URL", "'http://arm.example'"),
    "azureml-unknown-setting.yaml": (
        O,
        "one of: subscription_id, resource_group, workspace_name",
        "unknown key(s) workspace",
    ),
    # a third-party backend's own validators (examples/third_party_plugin): the same shape
    "httpjobs-bad-url.yaml": (f"{O}.url", "a value matching 'https?://.+'", "'ftp://jobs.example'"),
    "httpjobs-timeout-zero.yaml": (f"{O}.request_timeout", "a value > 0", "0"),
}
#: cases whose backend comes from an extra (skipped where that extra is not installed)
EXTRAS = {
    "aws-batch-": "aws_batch",
    "sagemaker-": "sagemaker",
    "vertex-": "vertex_ai",
    "azureml-": "azureml",
    "httpjobs-": "httpjobs",
}


def test_the_corpus_is_large_and_every_file_has_an_expectation():
    files = {p.name for p in CORPUS.iterdir() if p.suffix == ".yaml"}
    assert files == set(CASES), (
        f"without expectation: {sorted(files - set(CASES))}; missing: {sorted(set(CASES) - files)}"
    )
    assert len(files) >= 60


def _case(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, tuple[str, str, str]]:
    for prefix, backend in EXTRAS.items():
        if name.startswith(prefix):
            from flowyml.core.errors import PluginError
            from flowyml.plugins.manager import get_plugin_manager

            try:
                get_plugin_manager().backend(backend)
            except PluginError:
                pytest.skip(f"backend {backend} is not installed")
    monkeypatch.delenv("FLOWYML_CORPUS_UNSET", raising=False)
    monkeypatch.delenv("FLOWYML_STACK", raising=False)
    return CORPUS / name, CASES[name]


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_clear_error(name: str, monkeypatch: pytest.MonkeyPatch):
    path, (key, expected, found) = _case(name, monkeypatch)
    started = time.perf_counter()
    with pytest.raises(ConfigFieldError) as info:
        load_config(path).validate_stack("prod")
    assert time.perf_counter() - started < SECONDS
    error = info.value
    assert error.file == str(path) and str(error).startswith(str(path)), str(error)
    assert error.key.startswith(key) if key.endswith(("[", "]")) or key == "k0.k1.k2" else error.key == key, str(error)
    assert expected in error.expected, str(error)
    assert found in error.found, str(error)
    assert f"expected {error.expected}, found {error.found}" in str(error)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_cli_exits_2_with_that_one_line(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], flowyml_home: Path
):
    path, _ = _case(name, monkeypatch)
    with pytest.raises(ConfigFieldError) as info:
        load_config(path).validate_stack("prod")
    line = f"flowyml: {info.value}\n"
    loads = _loads(path)  # the file is well-formed; only using stack prod fails (paths, cloud fields)
    for argv, out in (
        (["stack", "validate", "prod"], ""),
        (["stack", "validate"], "local: ok\n" if loads else ""),
        (["run", f"{PIPELINE}:quick", "--stack", "prod"], ""),
    ):
        started = time.perf_counter()
        code = main(["--config", str(path), *argv])  # an exception escaping here would be a traceback
        captured = capsys.readouterr()
        assert time.perf_counter() - started < SECONDS
        assert (code, captured.out, captured.err) == (2, out, line), argv
    assert not (flowyml_home / "runs.db").exists() or not RunRegistry().list(), "nothing was submitted"


def _loads(path: Path) -> bool:
    try:
        load_config(path)
    except ConfigFieldError:
        return False
    return True
