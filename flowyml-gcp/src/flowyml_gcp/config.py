"""Settings of the ``vertex_ai`` backend (SDK-free: importing this never loads a Google SDK)."""

from __future__ import annotations

__all__ = ["VertexAIConfig"]

import re

import attrs

from flowyml.config.errors import ConfigFieldError, describe

_REGION = re.compile(r"^[a-z]+-[a-z]+\d+$")
_TRANSPORTS = ("rest", "grpc")


@attrs.define(frozen=True)
class VertexAIConfig:
    """Where and how runs go to Vertex AI.

    ``project_id``/``region``: the Vertex AI location. ``service_account``, ``network`` (a VPC
    ``projects/<number>/global/networks/<name>``) and ``encryption_key`` (a Cloud KMS key name,
    CMEK) are passed to every job. ``staging_bucket`` (``gs://...``) is the default artifact
    root and pipeline root. ``api_endpoint`` overrides the regional endpoint (private service
    connect, or a local fake: an ``http://`` endpoint is a test endpoint and gets anonymous
    credentials). ``machine_type`` is used when a unit asks for no specific machine.
    ``log_poll_interval`` / ``log_settle_seconds`` tune ``logs(follow=True)``: entries newer
    than the settle window are held back until Cloud Logging has had time to ingest late ones.
    """

    project_id: str | None = None
    region: str = "europe-west1"
    service_account: str | None = None
    network: str | None = None
    encryption_key: str | None = None
    staging_bucket: str | None = None
    pipeline_root: str | None = None
    api_endpoint: str | None = None
    logging_endpoint: str | None = None
    api_transport: str = "rest"
    anonymous_credentials: bool | None = None
    machine_type: str = "n1-standard-4"
    boot_disk_size_gb: int = 100
    labels: dict[str, str] = attrs.field(factory=dict)
    enable_caching: bool = False
    request_timeout: float = 60.0
    log_poll_interval: float = 5.0
    log_settle_seconds: float = 5.0

    def default_artifact_root(self) -> str:
        """``<staging_bucket>/flowyml`` (else the seed's ``gs://flowyml-<project>-artifacts``)."""
        if self.staging_bucket:
            return self.staging_bucket.rstrip("/") + "/flowyml"
        return f"gs://flowyml-{self.project_id}-artifacts"

    def validate(self) -> None:
        """Raise :class:`ConfigFieldError` naming the first invalid field (no Google call)."""
        if not self.project_id:
            raise ConfigFieldError.missing("project_id", "the Google Cloud project id")
        if not self.region or (not _REGION.match(self.region) and self.region != "global"):
            raise ConfigFieldError("region", "a GCP region such as 'europe-west1'", describe(self.region))
        if self.api_transport not in _TRANSPORTS:
            raise ConfigFieldError("api_transport", f"one of {', '.join(_TRANSPORTS)}", describe(self.api_transport))
        for name in ("staging_bucket", "pipeline_root"):
            value = getattr(self, name)
            if value and not value.startswith("gs://"):
                raise ConfigFieldError(name, "a gs:// URI", describe(value))
        if self.encryption_key and not self.encryption_key.startswith("projects/"):
            raise ConfigFieldError(
                "encryption_key",
                "a KMS key name 'projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>'",
                describe(self.encryption_key),
            )

    @property
    def endpoint(self) -> str:
        """The Vertex AI API endpoint (regional unless overridden)."""
        return self.api_endpoint or f"{self.region}-aiplatform.googleapis.com"

    @property
    def anonymous(self) -> bool:
        """Anonymous credentials: explicit, or implied by a plain-http (local/test) endpoint."""
        if self.anonymous_credentials is not None:
            return self.anonymous_credentials
        return bool(self.api_endpoint and self.api_endpoint.startswith("http://"))

    @property
    def location_path(self) -> str:
        return f"projects/{self.project_id}/locations/{self.region}"
