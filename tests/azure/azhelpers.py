"""Small helpers shared by the Azure test modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flowyml.core.resources import DockerConfig
from flowyml.orchestrators import RemoteOrchestrator

IMAGE = "ghcr.io/example/flowyml-runner:1.0"
#: The fake runs jobs on this machine, so a file:// store is reachable from them: the shared-mount opt-in.
SHARED = {"shared": "true"}


def orchestrator(config: Any, root: str, settings: dict[str, str] | None = None, **kwargs: Any) -> RemoteOrchestrator:
    if settings is None and root.startswith("file:"):
        settings = dict(SHARED)
    return RemoteOrchestrator(
        backend="azureml",
        config=config,
        artifact_store=root,
        store_settings=settings or {},
        docker_config=DockerConfig(image=IMAGE, env_vars={"TEAM": "ml"}),
        **kwargs,
    )


def file_root(tmp_path: Path) -> str:
    return (tmp_path / "artifacts").as_uri()
