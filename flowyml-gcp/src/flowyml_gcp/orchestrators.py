"""Seed-compatible facades: ``VertexAIOrchestrator`` and ``GCSArtifactStore`` (via ``flowyml.stacks.gcp``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from flowyml.artifacts.store import ArtifactStore
from flowyml.orchestrators import RemoteOrchestrator
from flowyml_gcp.config import VertexAIConfig


class VertexAIOrchestrator(RemoteOrchestrator):
    """Runs pipelines on Vertex AI: one CustomJob for a single unit, else one PipelineJob (kfp DAG).

    >>> orchestrator = VertexAIOrchestrator(project_id="my-proj", region="europe-west1",
    ...     service_account="sa@my-proj.iam.gserviceaccount.com", staging_bucket="gs://my-bucket")
    >>> result = orchestrator.run_pipeline(pipeline, run_id="run-123")   # returns at once
    """

    backend = "vertex_ai"

    def __init__(
        self,
        name: str = "vertex_ai",
        project_id: str | None = None,
        region: str = "europe-west1",
        service_account: str | None = None,
        network: str | None = None,
        encryption_key: str | None = None,
        staging_bucket: str | None = None,
        *,
        api_endpoint: str | None = None,
        config: VertexAIConfig | None = None,
        artifact_store: str | None = None,
        store_settings: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        if config is None:
            fields = {f.name for f in attrs.fields(VertexAIConfig)}
            extra = {k: kwargs.pop(k) for k in list(kwargs) if k in fields}
            config = VertexAIConfig(
                project_id=project_id,
                region=region,
                service_account=service_account,
                network=network,
                encryption_key=encryption_key,
                staging_bucket=staging_bucket,
                api_endpoint=api_endpoint,
                **extra,
            )
        self.project_id = config.project_id
        self.region = config.region
        self.service_account = config.service_account
        self.network = config.network
        self.encryption_key = config.encryption_key
        self.staging_bucket = config.staging_bucket
        super().__init__(name, config, artifact_store=artifact_store, store_settings=store_settings, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["console_url"] = f"https://console.cloud.google.com/vertex-ai/training?project={self.config.project_id}"
        return out


class GCSArtifactStore(ArtifactStore):
    """An :class:`ArtifactStore` on ``gs://bucket/prefix`` (manifest + sha256, create-only data objects).

    >>> store = GCSArtifactStore("gs://my-bucket/artifacts", project="my-proj")
    >>> uri = store.save({"weights": [1, 2]}, "models/m1"); store.load(uri)

    FlowyML's form works too: ``GCSArtifactStore(name="gcs", bucket_name="my-bucket",
    project_id="my-proj", prefix="flowyml")``.
    """

    def __init__(
        self,
        uri: str | None = None,
        project: str | None = None,
        endpoint: str | None = None,
        settings: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        bucket_name: str | None = None,
        project_id: str | None = None,
        prefix: str = "flowyml",
    ) -> None:
        from flowyml_gcp.store import GCSStorage

        if uri is not None and "://" not in uri and bucket_name:  # FlowyML's positional name
            name, uri = uri, None
        if uri is None:
            if not bucket_name:
                raise ValueError("GCSArtifactStore needs a uri (gs://bucket/prefix) or bucket_name=")
            uri = f"gs://{bucket_name.removeprefix('gs://').strip('/')}/{prefix.strip('/')}".rstrip("/")
        self.name = name or "gcs"
        project = project or project_id
        merged = dict(settings or {})
        if project:
            merged["project"] = project
        if endpoint:
            merged["endpoint"] = endpoint
        self.settings = merged
        super().__init__(uri, merged, storage=GCSStorage(uri, merged))


__all__ = ["GCSArtifactStore", "VertexAIConfig", "VertexAIOrchestrator"]
