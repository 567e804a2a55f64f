"""docs/resume.md runs as written: its pipeline file, each shell command (with the exit code its
comment states, 0 otherwise), then its Python, in one fresh directory and flowyml home."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "resume.md"
FENCE = re.compile(r"^```(python|bash)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def test_the_resume_page_runs(tmp_path: Path) -> None:
    # the page's program, up to the retries section (its block runs in tests/core/test_run_retries.py)
    blocks = FENCE.findall(PAGE.read_text().split("## Automatic retries of units that died")[0])
    python = [code for kind, code in blocks if kind == "python"]
    shell = [code for kind, code in blocks if kind == "bash"]
    assert len(python) == 2 and len(shell) == 1 and python[0].startswith("# resume_demo.py\n")
    (tmp_path / "resume_demo.py").write_text(python[0])
    env = {**os.environ, "FLOWYML_HOME": str(tmp_path / "home"), "FLOWYML_RETRY_BASE_DELAY": "0.01"}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for key in ("FLOWYML_CONFIG", "FLOWYML_STACK", "BREAK_TRAIN"):
        env.pop(key, None)
    detached = None
    for line in shell[0].strip().splitlines():
        command, _, comment = line.partition("#")
        wanted = re.match(r"\s*exit (\d+)", comment)
        proc = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
        )
        assert proc.returncode == (int(wanted.group(1)) if wanted else 0), f"{line}\n{proc.stdout}\n{proc.stderr}"
        if "BREAK_TRAIN" in command:
            assert "flowyml resume demo-1" in proc.stderr  # the failure says how to resume
        if command.split()[:2] == ["flowyml", "runs"]:
            assert all(f"demo-{i}" in proc.stdout for i in (1, 2, 3)) and "inprocess" in proc.stdout
        if "--detach --json" in command:
            detached = json.loads(proc.stdout)
    assert detached is not None and detached["reused"] == ["load"] and detached["backend"] == "local"
    deadline = time.monotonic() + 60
    status = {}
    while status.get("status") not in ("COMPLETED", "FAILED") and time.monotonic() < deadline:
        status = json.loads(
            subprocess.run(
                ["flowyml", "status", detached["run_id"], "--json"],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout
        )
        time.sleep(0.2)
    assert status["status"] == "COMPLETED"
    (tmp_path / "page_program.py").write_text(python[1])
    proc = subprocess.run(
        [sys.executable, "page_program.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_readme_breaks_a_step_of_the_demo_and_resumes_it(tmp_path: Path) -> None:
    """The README's two lines, with `scripts/demo` as what it runs (`flowyml run examples/digits.py`)."""
    import pytest

    pytest.importorskip("sklearn")
    text = (ROOT / "README.md").read_text()
    block = next(code for kind, code in FENCE.findall(text) if kind == "bash" and "DIGITS_BREAK" in code)
    lines = [line.partition("#")[0].strip() for line in block.strip().splitlines()]
    assert lines[0] == "DIGITS_BREAK=evaluate scripts/demo" and lines[1] == ".venv/bin/flowyml resume RUN_ID"
    env = {**os.environ, "FLOWYML_HOME": str(tmp_path / "home")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    broken = subprocess.run(
        ["bash", "-c", lines[0].replace("scripts/demo", "flowyml run examples/digits.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert broken.returncode == 1, broken.stdout + broken.stderr
    run_id = re.search(r"flowyml resume (\S+)\s*$", broken.stderr).group(1)  # the last line says how
    resumed = subprocess.run(
        ["bash", "-c", lines[1].replace(".venv/bin/flowyml", "flowyml").replace("RUN_ID", run_id) + " --json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    steps = json.loads(resumed.stdout)["steps"]
    assert steps["load_digits"]["status"] == steps["split"]["status"] == "cached"  # reused, not run
    assert steps["evaluate"]["status"] == "ok" and steps["register"]["status"] == "ok"
    assert "reusing load_digits, split" in resumed.stderr
    status = subprocess.run(
        ["flowyml", "status", json.loads(resumed.stdout)["run_id"], "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(status.stdout)["units"] == {"modelling": "COMPLETED", "register": "COMPLETED"}  # only these ran
