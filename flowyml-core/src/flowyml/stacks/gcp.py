"""Vertex AI orchestrators (from the ``flowyml[gcp]`` extra)."""

from __future__ import annotations

from flowyml.stacks import import_extra

_impl = import_extra("flowyml_gcp.orchestrators", "gcp", "Vertex AI")

VertexAIOrchestrator = _impl.VertexAIOrchestrator
GCSArtifactStore = _impl.GCSArtifactStore

__all__ = ["VertexAIOrchestrator", "GCSArtifactStore"]
