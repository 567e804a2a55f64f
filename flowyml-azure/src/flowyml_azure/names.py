"""Deterministic Azure ML names derived from flowyml run ids and unit names."""

from __future__ import annotations

import hashlib
import re

_JOB_BAD = re.compile(r"[^A-Za-z0-9_-]+")
_NODE_BAD = re.compile(r"[^a-z0-9_]+")
MAX_JOB_NAME = 255


def _digest(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def job_name(run_id: str) -> str:
    """The job name for a run: the run id itself when Azure ML accepts it, else a sanitised form
    with a short hash of the original (so two run ids never collide)."""
    clean = _JOB_BAD.sub("-", run_id).strip("-_")
    if clean and clean[0].isalnum() and clean == run_id and len(clean) <= MAX_JOB_NAME:
        return clean
    clean = (clean if clean and clean[0].isalnum() else f"r-{clean}")[: MAX_JOB_NAME - 9]
    return f"{clean}-{_digest(run_id)}"


def experiment_name(name: str) -> str:
    """An Azure ML experiment name (letters, digits, ``_``, ``-``; at most 255) for a pipeline name."""
    clean = _JOB_BAD.sub("_", name).strip("_-") or "flowyml"
    return clean[:MAX_JOB_NAME]


def node_names(units: list[str]) -> dict[str, str]:
    """Pipeline node names (lowercase letters, digits, ``_``; start with a letter), unique per job."""
    result: dict[str, str] = {}
    taken: set[str] = set()
    for unit in units:
        base = _NODE_BAD.sub("_", unit.lower()).strip("_") or "unit"
        if not base[0].isalpha():
            base = f"u_{base}"
        name = base if base == unit else f"{base}_{_digest(unit, 6)}"
        while name in taken:
            name = f"{base}_{_digest(name, 6)}"
        taken.add(name)
        result[unit] = name
    return result
