"""Orchestrators: the seed-compatible classes users call, implemented once over the backends.

``remote`` (RemoteOrchestrator, attach, get_orchestrator), ``submission`` (SubmissionResult),
``configs`` (backend configs), ``layout`` (RunLayout, UnitResult), ``spec`` (JobSpec building),
``registry`` (the run registry). Names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowyml.orchestrators.remote import RemoteOrchestrator, attach, get_orchestrator
    from flowyml.orchestrators.submission import SubmissionResult

_WHERE = {
    "RemoteOrchestrator": "flowyml.orchestrators.remote",
    "attach": "flowyml.orchestrators.remote",
    "get_orchestrator": "flowyml.orchestrators.remote",
    "SubmissionResult": "flowyml.orchestrators.submission",
}

__all__ = ["RemoteOrchestrator", "SubmissionResult", "attach", "get_orchestrator"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'flowyml.orchestrators' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
