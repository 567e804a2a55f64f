"""The Ray orchestrator (from the ``flowyml[ray]`` extra)."""

from __future__ import annotations

from flowyml.stacks import import_extra

_impl = import_extra("flowyml_ray.orchestrators", "ray", "Ray")

RayOrchestrator = _impl.RayOrchestrator

__all__ = ["RayOrchestrator"]
