"""Seed-compatible facades (``flowyml.stacks.aws``): AWSBatchOrchestrator, SageMakerOrchestrator, S3ArtifactStore."""

from __future__ import annotations

__all__ = ["AWSBatchOrchestrator", "SageMakerOrchestrator", "S3ArtifactStore"]

from collections.abc import Mapping
from typing import Any

import attrs

from flowyml.artifacts.store import ArtifactStore
from flowyml.orchestrators import RemoteOrchestrator
from flowyml_aws.config import AWSBatchConfig, SageMakerConfig


def _build(config_class: type, given: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    """The config from the seed's named parameters plus any config field passed as a keyword."""
    fields = {f.name for f in attrs.fields(config_class)}
    extra = {k: kwargs.pop(k) for k in list(kwargs) if k in fields}
    return config_class(**{k: v for k, v in given.items() if v is not None}, **extra)


class AWSBatchOrchestrator(RemoteOrchestrator):
    """Runs each execution unit as an AWS Batch job; the DAG becomes ``dependsOn``.

    >>> orchestrator = AWSBatchOrchestrator(job_queue="my-queue", job_definition="my-job-def")
    >>> result = orchestrator.run_pipeline(pipeline, run_id="run-123")   # returns at once
    """

    backend = "aws_batch"

    def __init__(
        self,
        name: str = "aws_batch",
        region: str | None = None,
        job_queue: str | None = None,
        job_definition: str | None = None,
        parameters: Mapping[str, str] | None = None,
        *,
        endpoint_url: str | None = None,
        config: AWSBatchConfig | None = None,
        artifact_store: str | None = None,
        store_settings: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        if config is None:
            config = _build(
                AWSBatchConfig,
                {
                    "region": region,
                    "job_queue": job_queue,
                    "job_definition": job_definition,
                    "parameters": dict(parameters or {}),
                    "endpoint_url": endpoint_url,
                },
                kwargs,
            )
        self.region = config.region
        self.job_queue = config.job_queue
        self.job_definition = config.job_definition
        self.parameters = dict(config.parameters)
        super().__init__(name, config, artifact_store=artifact_store, store_settings=store_settings, **kwargs)


class SageMakerOrchestrator(RemoteOrchestrator):
    """Runs a pipeline on SageMaker: one training job for a single-unit run, else a SageMaker
    Pipeline of Training steps (the DAG as ``DependsOn``) that runs with nobody polling.

    >>> orchestrator = SageMakerOrchestrator(region="eu-west-1", role_arn="arn:aws:iam::123:role/sm",
    ...     output_path="s3://my-bucket/sagemaker")
    """

    backend = "sagemaker"

    def __init__(
        self,
        name: str = "sagemaker",
        region: str | None = None,
        role_arn: str | None = None,
        default_instance_type: str = "ml.m5.xlarge",
        default_instance_count: int = 1,
        volume_size_gb: int = 50,
        output_path: str | None = None,
        *,
        endpoint_url: str | None = None,
        config: SageMakerConfig | None = None,
        artifact_store: str | None = None,
        store_settings: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        if config is None:
            config = _build(
                SageMakerConfig,
                {
                    "region": region,
                    "role_arn": role_arn,
                    "default_instance_type": default_instance_type,
                    "default_instance_count": default_instance_count,
                    "volume_size_gb": volume_size_gb,
                    "output_path": output_path,
                    "endpoint_url": endpoint_url,
                },
                kwargs,
            )
        self.region = config.region
        self.role_arn = config.role_arn
        self.default_instance_type = config.default_instance_type
        self.default_instance_count = config.default_instance_count
        self.volume_size_gb = config.volume_size_gb
        self.output_path = config.output_path
        super().__init__(name, config, artifact_store=artifact_store, store_settings=store_settings, **kwargs)

    def default_artifact_root(self) -> str:
        """``<output_path>/flowyml`` when an S3 output path is set, else the local default."""
        if self.config.output_path and self.config.output_path.startswith("s3://"):
            return self.config.output_path.rstrip("/") + "/flowyml"
        return super().default_artifact_root()


class S3ArtifactStore(ArtifactStore):
    """An :class:`ArtifactStore` on ``s3://<bucket_name>/<prefix>`` (manifest + sha256, create-only data).

    >>> store = S3ArtifactStore("my-bucket", prefix="flowyml", region="eu-west-1")
    >>> uri = store.save({"weights": [1, 2]}, "models/m1"); store.load(uri)
    """

    def __init__(
        self,
        bucket_name: str | None = None,
        prefix: str = "flowyml",
        region: str | None = None,
        *,
        endpoint_url: str | None = None,
        settings: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        from flowyml_aws.store import S3Storage

        if not bucket_name:
            raise ValueError("S3ArtifactStore needs bucket_name= (FlowyML's name= is only a label)")
        self.name = name or "s3"
        bucket = bucket_name.removeprefix("s3://").strip("/")
        merged = {
            **dict(settings or {}),
            **({"region": region} if region else {}),
            **({"endpoint_url": endpoint_url} if endpoint_url else {}),
        }
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self.region = region
        self.settings = merged
        super().__init__(
            f"s3://{bucket}/{self.prefix}".rstrip("/"),
            merged,
            storage=S3Storage(f"s3://{bucket}/{self.prefix}", merged),
        )
