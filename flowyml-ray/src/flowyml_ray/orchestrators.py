"""The seed-style facade (``flowyml.stacks.ray``): ``RayOrchestrator``."""

from __future__ import annotations

__all__ = ["RayOrchestrator"]

from collections.abc import Mapping
from typing import Any

import attrs

from flowyml.orchestrators import RemoteOrchestrator
from flowyml_ray.config import RayConfig


class RayOrchestrator(RemoteOrchestrator):
    """Runs each pipeline as one Ray Job on the cluster at ``address``; each execution unit is a Ray task.

    >>> orchestrator = RayOrchestrator(address="http://head:8265", artifact_store="s3://bucket/flowyml")
    >>> result = orchestrator.run_pipeline(pipeline, run_id="ray-1")   # returns at once
    """

    backend = "ray"

    def __init__(
        self,
        name: str = "ray",
        address: str | None = None,
        runtime_env: Mapping[str, Any] | None = None,
        *,
        config: RayConfig | None = None,
        artifact_store: str | None = None,
        store_settings: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        if config is None:
            fields = {f.name for f in attrs.fields(RayConfig)}
            extra = {k: kwargs.pop(k) for k in list(kwargs) if k in fields}
            config = RayConfig(address=address, runtime_env=dict(runtime_env or {}), **extra)
        self.address = config.jobs_address()
        self.runtime_env = dict(config.runtime_env)
        super().__init__(name, config, artifact_store=artifact_store, store_settings=store_settings, **kwargs)
