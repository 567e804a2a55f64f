"""Pipelines, steps, context, execution: ``from flowyml.core import step, Pipeline, context``.

Most names load on first use (PEP 562), so importing any ``flowyml.core`` module stays cheap.
``step``, ``context`` and ``resources`` are bound here at once: they share their names with
submodules, and the functions must win.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flowyml.core.context import Context, context
from flowyml.core.resources import GPUConfig, NodeAffinity, ResourceRequirements, resources
from flowyml.core.step import Step, step

if TYPE_CHECKING:
    from flowyml.core.cache import CacheStore
    from flowyml.core.errors import StopExecution
    from flowyml.core.executor import ExecutionResult, Executor, LocalExecutor
    from flowyml.core.pipeline import Pipeline, PipelineResult
    from flowyml.core.status import ExecutionStatus

_LAZY = {
    "CacheStore": "flowyml.core.cache",
    "StopExecution": "flowyml.core.errors",
    "ExecutionResult": "flowyml.core.executor",
    "Executor": "flowyml.core.executor",
    "LocalExecutor": "flowyml.core.executor",
    "Pipeline": "flowyml.core.pipeline",
    "PipelineResult": "flowyml.core.pipeline",
    "ExecutionStatus": "flowyml.core.status",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flowyml.core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "CacheStore",
    "Context",
    "ExecutionResult",
    "ExecutionStatus",
    "Executor",
    "GPUConfig",
    "LocalExecutor",
    "NodeAffinity",
    "Pipeline",
    "PipelineResult",
    "ResourceRequirements",
    "Step",
    "StopExecution",
    "context",
    "resources",
    "step",
]
