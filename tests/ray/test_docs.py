"""docs/backends/ray.md: its Python runs against the test cluster, its stack loads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.ray.conftest import REPO

PAGE = REPO / "docs" / "backends" / "ray.md"


def test_the_python_on_the_ray_page_runs_on_the_cluster(ray_cluster: Any, tmp_path: Path) -> None:
    blocks = re.findall(r"^```python\n(.*?)^```\s*$", PAGE.read_text(), re.M | re.S)
    assert blocks
    script = tmp_path / "ray_page.py"
    script.write_text("\n\n".join(blocks))
    env = {**os.environ, "FLOWYML_HOME": str(tmp_path / "home"), "FLOWYML_BACKEND_RETRY_DELAY": "0.01"}
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "summing 4 numbers" in proc.stdout and "/#/jobs/flowyml-ray-quickstart-1" in proc.stdout


def test_the_stack_on_the_ray_page_loads(monkeypatch: Any) -> None:
    from flowyml.config.loader import parse_config
    from flowyml_ray.config import RayConfig

    blocks = re.findall(r"^```yaml\n(.*?)^```\s*$", PAGE.read_text(), re.M | re.S)
    config = parse_config(yaml.safe_load(blocks[0]), str(PAGE))
    stack = config.stacks["ray"]
    assert isinstance(stack.orchestrator, RayConfig)
    assert stack.orchestrator.runtime_env["working_dir"] == "." and stack.orchestrator.address.endswith(":8265")
