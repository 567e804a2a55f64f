"""AWS Batch / SageMaker orchestrators (from the ``flowyml[aws]`` extra)."""

from __future__ import annotations

from flowyml.stacks import import_extra

_impl = import_extra("flowyml_aws.orchestrators", "aws", "AWS Batch / SageMaker")

AWSBatchOrchestrator = _impl.AWSBatchOrchestrator
SageMakerOrchestrator = _impl.SageMakerOrchestrator
S3ArtifactStore = _impl.S3ArtifactStore

__all__ = ["AWSBatchOrchestrator", "SageMakerOrchestrator", "S3ArtifactStore"]
