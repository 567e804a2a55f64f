"""Running and timing fresh interpreters: wall time, the last JSON line they print, peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def script_path(name: str) -> Path | None:
    """A console script installed next to this interpreter (e.g. ``flowyml``), or None."""
    path = Path(PYTHON).parent / name
    return path if path.exists() else None


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment, with the repo root importable (``bench.workloads``) and ``extra`` on top."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


def timed_run(
    argv: Sequence[str], *, cwd: Path | str | None = None, env: Mapping[str, str] | None = None
) -> tuple[float, int, str]:
    """Run ``argv`` to completion: (wall seconds, exit code, stdout). stderr is kept only on failure."""
    start = time.perf_counter()
    proc = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return wall, proc.returncode, proc.stdout


def cpu_run(
    argv: Sequence[str], *, cwd: Path | str | None = None, env: Mapping[str, str] | None = None
) -> tuple[float, float]:
    """Run ``argv`` to completion: (wall seconds, the child's user + system CPU seconds).

    CPU time is read from ``RUSAGE_CHILDREN`` before and after, so call it with no other child
    being reaped meanwhile. It is far less disturbed than wall time by other load on the machine.
    """
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, _, _ = timed_run(argv, cwd=cwd, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def json_line(stdout: str) -> Any:
    """The last line of ``stdout`` that parses as JSON (children print one result line)."""
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith(("{", "[")):
            return json.loads(line)
    raise ValueError(f"no JSON result line in child output: {stdout[-500:]!r}")


def vm_hwm_mb() -> float | None:
    """This process's peak RSS (``VmHWM``) in MiB, or None without /proc.

    Not ``ru_maxrss``: on Linux a child's ``ru_maxrss`` starts at its parent's RSS (the parent's
    memory map is what ``exec`` replaces), so a big parent inflates a small child's figure.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@contextmanager
def isolated_home() -> Iterator[Path]:
    """A throw-away ``FLOWYML_HOME`` (run registry, local runs, artifacts) for the ``with`` block."""
    old = os.environ.get("FLOWYML_HOME")
    with tempfile.TemporaryDirectory(prefix="flowyml-bench-home-") as home:
        os.environ["FLOWYML_HOME"] = home
        try:
            yield Path(home)
        finally:
            if old is None:
                os.environ.pop("FLOWYML_HOME", None)
            else:
                os.environ["FLOWYML_HOME"] = old
