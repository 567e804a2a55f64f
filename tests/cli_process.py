"""Test helper: the flowyml CLI run as a fresh process (``python -m flowyml.cli.main ARGS``), as a user runs it.

Tests that need the process while it runs (``Popen``, a signal, a closed or broken stdout) start it themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cli_env(
    home: Path | None = None, *, repo_on_path: bool = False, without: Iterable[str] = (), **values: str
) -> dict[str, str]:
    """This process's environment for a CLI process: ``FLOWYML_HOME`` set to ``home`` (given), the repository on
    ``PYTHONPATH`` so ``tests.x:pipeline`` targets import from any cwd (``repo_on_path``), the ``without`` names
    removed (e.g. ``FLOWYML_CONFIG``, so the cwd's flowyml.yaml is the one read), then ``values`` set."""
    env = {**os.environ}
    if home is not None:
        env["FLOWYML_HOME"] = str(home)
    if repo_on_path:
        env["PYTHONPATH"] = str(REPO)
    for name in without:
        env.pop(name, None)
    return {**env, **values}


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    check: bool = False,
    module: str = "flowyml.cli.main",
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m flowyml.cli.main *args`` to its end and return its exit code and text output.

    ``cwd`` and ``env`` are the process's (None: this process's own); ``check`` fails the test, with the output,
    unless it exits 0; ``module`` is the entry point (``flowyml`` for ``python -m flowyml``)."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"flowyml {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc
