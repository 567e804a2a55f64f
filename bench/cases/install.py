"""Install footprint of ``flowyml-core``: the distributions it pulls in, resolved from installed metadata."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from bench.model import SKIPPED, CaseResult, Row
from bench.settings import Settings
from bench.venv import clean_venv, venv_distributions, venv_size_mb

ROOT_DIST = "flowyml-core"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _applies(marker: str) -> bool:
    """Whether a requirement's environment marker holds here; ``extra == ...`` requirements never do."""
    if not marker.strip():
        return True
    if "extra" in marker:
        return False
    try:
        from packaging.markers import Marker
    except ImportError:  # no packaging: count the requirement (over- rather than under-report)
        return True
    return Marker(marker).evaluate()


def requirement_closure(root: str) -> dict[str, str]:
    """Every distribution ``root`` needs at runtime here (itself included): canonical name -> version."""
    found: dict[str, str] = {}
    todo = [root]
    while todo:
        name = canonical(todo.pop())
        if name in found:
            continue
        dist = metadata.distribution(name)
        found[name] = dist.version
        for req in dist.requires or []:
            spec, _, marker = req.partition(";")
            match = _NAME.match(spec)
            if match and _applies(marker):
                todo.append(match.group(1))
    return found


def _size_mb(name: str) -> float:
    """Bytes on disk of a distribution's files (an editable install: its source tree)."""
    dist = metadata.distribution(name)
    total = 0
    for f in dist.files or []:
        path = Path(str(dist.locate_file(f)))
        if path.suffix == ".pth" and path.exists():
            for line in path.read_text().splitlines():
                src = Path(line.strip())
                if line.strip() and src.is_dir():
                    total += sum(p.stat().st_size for p in src.rglob("*") if p.is_file())
        elif path.is_file():
            total += path.stat().st_size
    return total / 2**20


def run(settings: Settings) -> CaseResult:
    result = CaseResult("install", f"Install footprint of {ROOT_DIST} (requirement closure, from installed metadata)")
    try:
        closure = requirement_closure(ROOT_DIST)
    except metadata.PackageNotFoundError as exc:
        result.status = SKIPPED
        result.note = f"not measured: distribution {exc} is not installed"
        return result
    size = sum(_size_mb(name) for name in closure)
    result.details = {"distributions": closure, "size_mb": round(size, 1)}
    result.rows.append(
        Row.of(
            "core_distributions",
            f"distributions a `{ROOT_DIST}` install pulls in (itself included)",
            len(closure),
            "dists",
            f"{', '.join(f'{k} {v}' for k, v in sorted(closure.items()))}; {size:.1f} MB on disk",
        )
    )
    if settings.clean_venv:
        venv, how = clean_venv()
        result.details["clean_venv"] = how
        if venv is not None:
            dists = venv_distributions(venv)
            size = venv_size_mb(venv)
            result.details["clean_venv_distributions"] = dists
            result.details["clean_venv_mb"] = size
            result.rows.append(
                Row.of(
                    "venv_distributions",
                    "distributions in a fresh venv after `pip install flowyml-core` (pip, setuptools included)",
                    len(dists),
                    "dists",
                    f"venv {size:.0f} MB (`du -sm`); the peers' table counts the same way (an empty venv: 2)",
                )
            )
    return result
