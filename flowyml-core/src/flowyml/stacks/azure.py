"""Azure ML orchestrators (from the ``flowyml[azure]`` extra)."""

from __future__ import annotations

from flowyml.stacks import import_extra

_impl = import_extra("flowyml_azure.orchestrators", "azure", "Azure ML")

AzureMLOrchestrator = _impl.AzureMLOrchestrator
AzureBlobArtifactStore = _impl.AzureBlobArtifactStore

__all__ = ["AzureMLOrchestrator", "AzureBlobArtifactStore"]
