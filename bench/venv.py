"""A throw-away virtualenv holding only ``flowyml-core`` and what it pulls in, as a user would install it.

Made once per bench run (about 10 s; needs the package index for the build backend and the
dependencies), removed at exit. Measuring start-up there keeps the dev venv's extra ``.pth``
files (editable installs, namespace packages) out of the bare-python baseline.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.proc import REPO_ROOT

_cache: dict[str, object] = {}


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def clean_venv() -> tuple[Path | None, str]:
    """(the venv's directory, how it was made) or (None, why it could not be made)."""
    if "result" in _cache:
        return _cache["result"]  # type: ignore[return-value]
    root = Path(tempfile.mkdtemp(prefix="flowyml-bench-venv-"))
    atexit.register(_remove, root)
    venv = root / "venv"
    start = time.perf_counter()
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         str(REPO_ROOT / "flowyml-core")],
    ]  # fmt: skip
    for argv in steps:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            result = (None, f"`{' '.join(argv[-2:])}` failed: {proc.stderr.strip()[-300:]}")
            _cache["result"] = result
            return result
    result = (venv, f"python -m venv + pip install flowyml-core took {time.perf_counter() - start:.1f} s")
    _cache["result"] = result
    return result


def venv_python(venv: Path) -> str:
    return str(venv / "bin" / "python")


def venv_distributions(venv: Path) -> dict[str, str]:
    """``pip list`` of the venv: name -> version (pip and setuptools included, as the peers counted)."""
    import json

    out = subprocess.run(
        [venv_python(venv), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {d["name"]: d["version"] for d in json.loads(out)}


def venv_size_mb(venv: Path) -> float:
    """``du -sm`` of the venv, as the peers measured theirs."""
    out = subprocess.run(["du", "-sm", str(venv)], capture_output=True, text=True, check=True).stdout
    return float(out.split()[0])
