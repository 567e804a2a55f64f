"""Google SDK clients for one config, and the one answer to "is this error worth retrying?".

Every call goes through the GAPIC ``aiplatform_v1`` clients (per-call endpoint, transport,
bounded timeout, no process-global ``aiplatform.init`` state, no hidden bucket creation) with
the SDK's own retry switched off: :func:`call` retries with flowyml's bounded backoff instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flowyml.core.errors import RunNotFoundError
from flowyml.plugins.clients import ClientCache
from flowyml.plugins.retry import call_with_retry
from flowyml_gcp.config import VertexAIConfig

T = TypeVar("T")
CLIENTS: ClientCache[Any] = ClientCache()
DEFAULT_LOGGING_ENDPOINT = "https://logging.googleapis.com"
_REQUESTS_TRANSIENT = frozenset({"ConnectionError", "Timeout"})


def credentials(anonymous: bool) -> Any:
    """``AnonymousCredentials`` for local endpoints, else None (Application Default Credentials)."""
    if not anonymous:
        return None
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


def _options(config: VertexAIConfig) -> Any:
    from google.api_core.client_options import ClientOptions

    return ClientOptions(api_endpoint=config.endpoint)


def job_client(config: VertexAIConfig) -> Any:
    """``aiplatform_v1.JobServiceClient`` (CustomJobs) for the config's endpoint."""

    def make() -> Any:
        from google.cloud.aiplatform_v1.services.job_service import JobServiceClient

        return JobServiceClient(
            credentials=credentials(config.anonymous),
            transport=config.api_transport,
            client_options=_options(config),
        )

    return CLIENTS.get(("job", config.endpoint, config.api_transport, config.anonymous), make)


def pipeline_client(config: VertexAIConfig) -> Any:
    """``aiplatform_v1.PipelineServiceClient`` (PipelineJobs) for the config's endpoint."""

    def make() -> Any:
        from google.cloud.aiplatform_v1.services.pipeline_service import PipelineServiceClient

        return PipelineServiceClient(
            credentials=credentials(config.anonymous),
            transport=config.api_transport,
            client_options=_options(config),
        )

    return CLIENTS.get(("pipeline", config.endpoint, config.api_transport, config.anonymous), make)


def logging_endpoint(config: VertexAIConfig) -> str:
    """Cloud Logging endpoint: explicit, else the Vertex endpoint when that is local, else Google's."""
    if config.logging_endpoint:
        return config.logging_endpoint
    if config.api_endpoint and config.api_endpoint.startswith("http://"):
        return config.api_endpoint
    return DEFAULT_LOGGING_ENDPOINT


def logging_client(config: VertexAIConfig) -> Any:
    """``google.cloud.logging.Client`` over HTTP/JSON (its gRPC path needs TLS and a real host)."""
    endpoint = logging_endpoint(config)

    def make() -> Any:
        from google.cloud import logging_v2

        return logging_v2.Client(
            project=config.project_id,
            credentials=credentials(config.anonymous),
            _use_grpc=False,
            client_options={"api_endpoint": endpoint},
        )

    return CLIENTS.get(("logging", endpoint, config.project_id, config.anonymous), make)


def transient(exc: BaseException) -> bool | float:
    """True (or the server's Retry-After seconds) for throttling, 5xx, timeouts and dropped connections."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.RetryError):
        return True
    if isinstance(
        exc,
        (gexc.TooManyRequests, gexc.InternalServerError, gexc.BadGateway, gexc.ServiceUnavailable, gexc.GatewayTimeout),
    ):
        return _retry_after(exc) or True
    if any(c.__module__.startswith("requests") and c.__name__ in _REQUESTS_TRANSIENT for c in type(exc).__mro__):
        return True  # requests' ConnectionError / Timeout (google-auth's HTTP transport)
    from google.auth import exceptions as auth_exc

    return isinstance(exc, (auth_exc.TransportError, TimeoutError, ConnectionError))


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def call(fn: Callable[[], T], what: str) -> T:
    """``fn()`` with flowyml's bounded retry; raises TransientBackendError when retries run out."""
    return call_with_retry(fn, transient=transient, what=what)


def get_or_not_found(fn: Callable[[], T], what: str, name: str) -> T:
    """A GET with retries; a 404 becomes :class:`RunNotFoundError` (never a FAILED status)."""
    from google.api_core import exceptions as gexc

    try:
        return call(fn, what)
    except gexc.NotFound as exc:
        raise RunNotFoundError(f"Vertex AI has no {name}: {exc}") from exc
