"""flowyml: run ML pipelines anywhere — in-process, or on Vertex AI, AWS Batch, SageMaker and Azure ML.

Every public name is loaded on first use (PEP 562), so ``import flowyml`` — and the CLI — stay
fast, and no cloud SDK is ever imported here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "3.0.0"

if TYPE_CHECKING:
    from flowyml.config.loader import load_config
    from flowyml.core.assets import Asset, Dataset, Metrics, Model
    from flowyml.core.context import Context, context
    from flowyml.core.errors import (
        ConfigError,
        FlowymlError,
        PipelineDefinitionError,
        PluginError,
        RunFailedError,
        StopExecution,
    )
    from flowyml.core.executor import ExecutionResult, LocalExecutor
    from flowyml.core.pipeline import Pipeline, PipelineResult
    from flowyml.core.resources import DockerConfig, ResourceConfig
    from flowyml.core.status import ExecutionStatus
    from flowyml.core.step import Step, clear_step_registry, step
    from flowyml.orchestrators import RemoteOrchestrator, SubmissionResult, attach, get_orchestrator
    from flowyml.plugins.types import RunHandle
    from flowyml.stacks.local import LocalOrchestrator

_LAZY = {
    "Asset": "flowyml.core.assets",
    "Dataset": "flowyml.core.assets",
    "Metrics": "flowyml.core.assets",
    "Model": "flowyml.core.assets",
    "Context": "flowyml.core.context",
    "context": "flowyml.core.context",
    "ConfigError": "flowyml.core.errors",
    "FlowymlError": "flowyml.core.errors",
    "PipelineDefinitionError": "flowyml.core.errors",
    "PluginError": "flowyml.core.errors",
    "RunFailedError": "flowyml.core.errors",
    "StopExecution": "flowyml.core.errors",
    "ExecutionResult": "flowyml.core.executor",
    "LocalExecutor": "flowyml.core.executor",
    "Pipeline": "flowyml.core.pipeline",
    "PipelineResult": "flowyml.core.pipeline",
    "DockerConfig": "flowyml.core.resources",
    "ResourceConfig": "flowyml.core.resources",
    "ExecutionStatus": "flowyml.core.status",
    "Step": "flowyml.core.step",
    "step": "flowyml.core.step",
    "clear_step_registry": "flowyml.core.step",
    "SubmissionResult": "flowyml.orchestrators.submission",
    "RemoteOrchestrator": "flowyml.orchestrators.remote",
    "attach": "flowyml.orchestrators.remote",
    "get_orchestrator": "flowyml.orchestrators.remote",
    "RunHandle": "flowyml.plugins.types",
    "LocalOrchestrator": "flowyml.stacks.local",
    "load_config": "flowyml.config.loader",
}


def __getattr__(name: str) -> Any:
    if name == "aio":  # the async API, as a submodule: flowyml.aio.run_many(...)
        return importlib.import_module("flowyml.aio")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flowyml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "aio",
    "Asset",
    "Dataset",
    "Metrics",
    "Model",
    "ConfigError",
    "Context",
    "DockerConfig",
    "ExecutionResult",
    "ExecutionStatus",
    "FlowymlError",
    "LocalExecutor",
    "LocalOrchestrator",
    "Pipeline",
    "PipelineDefinitionError",
    "PipelineResult",
    "PluginError",
    "RemoteOrchestrator",
    "ResourceConfig",
    "RunFailedError",
    "RunHandle",
    "Step",
    "StopExecution",
    "SubmissionResult",
    "attach",
    "clear_step_registry",
    "context",
    "get_orchestrator",
    "load_config",
    "step",
]
