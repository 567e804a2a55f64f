"""Small helpers shared by the vertex_ai tests."""

from __future__ import annotations

from typing import Any

from flowyml.core.resources import DockerConfig
from tests.gcp.conftest import IMAGE


def orchestrator(config: Any, store_settings: dict[str, str], **kwargs: Any) -> Any:
    from flowyml_gcp.orchestrators import VertexAIOrchestrator

    return VertexAIOrchestrator(
        config=config, store_settings=store_settings, docker_config=DockerConfig(image=IMAGE), **kwargs
    )


def executor_of(spec: dict[str, Any], task_key: str) -> dict[str, Any]:
    """The container executor of one task in a compiled KFP pipeline spec."""
    component = spec["root"]["dag"]["tasks"][task_key]["componentRef"]["name"]
    label = spec["components"][component]["executorLabel"]
    return spec["deploymentSpec"]["executors"][label]["container"]
