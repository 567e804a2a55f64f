"""The CLI's read commands, exit codes and the in-process run summary."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli_process import run_cli

ROOT = Path(__file__).parent.parent.parent


def flowyml(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd)


def test_help_and_no_command():
    assert flowyml("--help").returncode == 0
    bare = flowyml()
    assert bare.returncode == 2 and "COMMAND" in bare.stdout


def test_run_prints_a_per_step_summary_and_takes_params():
    proc = flowyml("run", "tests/core/lifecycle_pipelines.py:quick", "-p", "count=4", "--no-cache")
    assert proc.returncode == 0, proc.stderr
    assert "pipeline lifecycle-quick succeeded" in proc.stdout
    assert "producing 4" in proc.stdout
    lines = [line.split() for line in proc.stdout.splitlines() if line.startswith("  ")]
    assert [(row[0], row[1]) for row in lines] == [("produce", "ok"), ("consume", "ok")]
    proc = flowyml("run", "tests/core/lifecycle_pipelines.py:quick", "--json")
    as_json = json.loads(proc.stdout)  # stdout is the JSON object alone; step output went to stderr
    assert "producing 3" in proc.stderr
    assert as_json["success"] is True and set(as_json["steps"]) == {"produce", "consume"}


def test_run_errors_have_exit_code_2():
    missing = flowyml("run", "nope/missing.py")
    assert missing.returncode == 2 and "no such pipeline file" in missing.stderr
    ambiguous = flowyml("run", "tests/core/lifecycle_pipelines.py")
    assert ambiguous.returncode == 2 and "found 2 pipelines (quick, slow)" in ambiguous.stderr
    bad_param = flowyml("run", "tests/core/lifecycle_pipelines.py:quick", "-p", "novalue")
    assert bad_param.returncode == 2 and "expected KEY=VALUE" in bad_param.stderr


def test_plugins_lists_backends_hooks_and_versions():
    doc = json.loads(flowyml("plugins", "--json").stdout)
    local = next(p for p in doc["plugins"] if p["name"] == "local")
    assert local["distribution"] == "flowyml-core" and local["version"]
    assert "flowyml_register_backends" in local["hooks"] and local["error"] is None
    assert "local" in [b["name"] for b in doc["backends"]] and "file" in doc["stores"]
    text = flowyml("plugins").stdout
    assert "backends:" in text and "local" in text


def test_stack_list_show_validate(tmp_path: Path):
    (tmp_path / "flowyml.yaml").write_text(
        "default_stack: dev\n"
        "stacks:\n"
        "  dev:\n"
        "    orchestrator: {type: local, max_parallel: 2}\n"
        "    docker: {image: img, env_vars: {TOKEN: '${SECRET_TOKEN:-hunter2}'}}\n"
    )
    listed = json.loads(flowyml("stack", "list", "--json", cwd=tmp_path).stdout)
    assert listed == {"active": "dev", "stacks": ["dev", "local"]}
    shown = flowyml("stack", "show", "dev", cwd=tmp_path)
    assert "max_parallel: 2" in shown.stdout and "hunter2" not in shown.stdout
    assert flowyml("stack", "validate", cwd=tmp_path).stdout.splitlines() == ["dev: ok", "local: ok"]
    (tmp_path / "flowyml.yaml").write_text("stacks:\n  dev:\n    orchestrator: {type: local, max_parallel: x}\n")
    bad = flowyml("stack", "validate", cwd=tmp_path)
    assert bad.returncode == 2 and "stacks.dev.orchestrator.max_parallel: expected int" in bad.stderr


def test_runs_is_empty_at_first():
    assert flowyml("runs").stdout.strip() == "no runs yet"
    assert json.loads(flowyml("runs", "--json").stdout) == []


def test_run_without_an_attribute_imports_the_users_module_once(tmp_path: Path):
    counter = tmp_path / "imports.txt"
    (tmp_path / "counted.py").write_text(
        "from pathlib import Path\n"
        "from flowyml import Pipeline, step\n"
        f"with open({str(counter)!r}, 'a') as f:\n"
        "    f.write('x')\n"
        "@step(outputs=['x'])\n"
        "def one():\n"
        "    return 1\n"
        "pipeline = Pipeline('counted').add_step(one)\n"
    )
    proc = flowyml("run", "counted.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert counter.read_text() == "x"  # module-level code (data loading, ...) runs once, not twice
