"""docs/backends/ray.md's ``runtime_env``: flowyml reaches the nodes as wheels built from the clone (never a
package-index name: that is another project), and ``working_dir`` brings the pipeline module to every node."""

from __future__ import annotations

import re
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowyml.core.status import ExecutionStatus as S
from tests.cli_process import cli_env, run_cli
from tests.ray.conftest import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - CI runs 3.11+
    tomllib = pytest.importorskip("tomli")

PAGE = REPO / "docs" / "backends" / "ray.md"
PLACEHOLDER = "${RAY_RUNTIME_ENV_CREATE_WORKING_DIR}"
#: a requirement naming one of our distributions as the package index knows them (another project there)
INDEX_NAME = re.compile(r"^flowyml(-[a-z]+)?\s*(\[[^\]]*\])?\s*([=<>!~].*)?$", re.I)


def _wheel_name(folder: str) -> str:
    """The file ``pip wheel`` makes of a distribution folder here (hatchling: pure Python, py3-none-any)."""
    project = tomllib.loads((REPO / folder / "pyproject.toml").read_text())["project"]
    return f"{project['name'].replace('-', '_')}-{project['version']}-py3-none-any.whl"


def test_the_stack_ships_flowyml_as_the_wheels_the_page_builds_from_the_clone() -> None:
    from flowyml.config.loader import parse_config

    text = PAGE.read_text()
    commands = [block for block in re.findall(r"^```bash\n(.*?)^```", text, re.M | re.S) if "pip wheel" in block]
    assert len(commands) == 1, commands
    words = commands[0].split()
    assert words[:3] == ["pip", "wheel", "--no-deps"] and "-w" in words, words
    folders = [w for w in words[3 : words.index("-w")] if w.startswith("./")]
    assert folders == ["./flowyml-core", "./flowyml-ray"], words
    wheels_dir = Path(words[words.index("-w") + 1]).name
    stack = parse_config(yaml.safe_load(re.findall(r"^```yaml\n(.*?)^```", text, re.M | re.S)[0]), str(PAGE))
    runtime_env = stack.stacks["ray"].orchestrator.runtime_env
    assert runtime_env["working_dir"] == "."  # the wheels travel inside it
    pip = runtime_env["pip"]
    assert not [r for r in pip if INDEX_NAME.match(r)], f"a package-index flowyml is another project: {pip}"
    ours = [r for r in pip if "flowyml" in r]
    assert ours == [f"{PLACEHOLDER}/{wheels_dir}/{_wheel_name(f[2:])}" for f in folders], ours
    for block in re.findall(r"^```(?:yaml|python)\n(.*?)^```", text, re.M | re.S):
        for requirement in re.findall(r"['\"]([^'\"]*flowyml[^'\"]*)['\"]", block):
            assert not INDEX_NAME.match(requirement), f"{PAGE.name}: {requirement!r} names the package index's flowyml"


PIPELINE = """
import os
from flowyml import Pipeline, step


@step(outputs=["where"], resources={"cpu": "500m"})
def where() -> dict:
    print("running from", __file__, flush=True)
    return {"file": __file__, "cwd": os.getcwd()}


pipeline = Pipeline("ray-working-dir", enable_cache=False).add_step(where)
"""


def test_working_dir_brings_the_pipeline_module_to_the_nodes(ray_cluster: Any, tmp_path: Path, monkeypatch) -> None:
    """The module exists only in the project directory, which no node has on its path: Ray uploads it."""
    from flowyml.orchestrators.remote import attach

    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    module = f"wd_pipeline_{uuid.uuid4().hex[:6]}"
    (project / f"{module}.py").write_text(PIPELINE)
    (project / ".venv").mkdir()
    (project / ".venv" / "big.bin").write_bytes(b"\0" * 1024)  # excluded: never uploaded
    (project / "flowyml.yaml").write_text(
        "stacks:\n"
        "  ray-wd:\n"
        f"    orchestrator: {{type: ray, address: '{ray_cluster.address}',"
        " runtime_env: {working_dir: ., excludes: ['.venv', '.git']}}\n"
        f"    artifact_store: {{uri: '{(tmp_path / 'artifacts').as_uri()}'}}\n"
    )
    run_id = f"wd-{uuid.uuid4().hex[:8]}"
    argv = ["run", f"{module}:pipeline", "--stack", "ray-wd", "--run-id", run_id]
    proc = run_cli(*argv, cwd=project, env=cli_env(home, without=["PYTHONPATH"]), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    monkeypatch.setenv("FLOWYML_HOME", str(home))
    run = attach(run_id)
    assert run.status() is S.COMPLETED
    where = run.get_output("where")
    uploaded = Path(where["file"]).parent
    assert uploaded != project and uploaded == Path(where["cwd"]), where  # Ray's copy, the unit's cwd
    assert "working_dir" in str(uploaded) and not (uploaded / ".venv").exists(), where
