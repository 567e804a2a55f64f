"""flowyml: run ML pipelines anywhere — in-process, or on Vertex AI, AWS Batch, SageMaker and Azure ML.

Only light modules load here; orchestrators, plugins and cloud SDKs load when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
from flowyml.core.step import Step, step

__version__ = "0.1.0"

if TYPE_CHECKING:
    from flowyml.orchestrators.base import RemoteOrchestrator, SubmissionResult

_LAZY = {
    "SubmissionResult": "flowyml.orchestrators.base",
    "RemoteOrchestrator": "flowyml.orchestrators.base",
    "RunHandle": "flowyml.plugins.types",
    "attach": "flowyml.orchestrators.base",
    "LocalOrchestrator": "flowyml.stacks.local",
    "get_orchestrator": "flowyml.orchestrators.base",
    "load_config": "flowyml.config.loader",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flowyml' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
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
    "context",
    "get_orchestrator",
    "load_config",
    "step",
]
