"""boto3 sessions and clients, the transient-error predicate, and ``call`` (every SDK call goes through it).

flowyml owns the retries: clients are built with botocore's ``total_max_attempts=1`` so a create
request is never re-sent blindly; ``call`` retries throttling, 5xx and connection errors with
backoff + jitter (``call_with_retry``), and the submit code looks for a job a lost attempt created
before creating again.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from flowyml.core.errors import BackendError, ConfigError
from flowyml.plugins.retry import call_with_retry

T = TypeVar("T")

#: Error codes AWS uses for throttling and server-side trouble (retried).
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "ServerException",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "LimitExceededException",
    }
)

_CLIENTS: dict[tuple, Any] = {}
_LOCK = threading.Lock()

CREDENTIALS_HELP = (
    "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or "
    "`profile:` in the orchestrator config), or run where an IAM role is attached (EC2/ECS/EKS)"
)
REGION_HELP = "no AWS region: set `region:` in the orchestrator config / store settings, or AWS_REGION"


def transient(exc: BaseException) -> bool | float:
    """True (or seconds to wait) for throttling, 5xx and connection errors; False otherwise."""
    from botocore import exceptions as bex

    if isinstance(exc, (bex.NoCredentialsError, bex.NoRegionError, bex.PartialCredentialsError)):
        return False
    if isinstance(
        exc,
        (
            bex.EndpointConnectionError,
            bex.ConnectionClosedError,
            bex.ReadTimeoutError,
            bex.ConnectTimeoutError,
            bex.ProxyConnectionError,
            bex.HTTPClientError,
        ),
    ):
        return True
    if isinstance(exc, bex.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        meta = exc.response.get("ResponseMetadata", {})
        status = int(meta.get("HTTPStatusCode") or 0)
        if code in TRANSIENT_CODES or status == 429 or status >= 500:
            retry_after = (meta.get("HTTPHeaders") or {}).get("retry-after")
            if retry_after and retry_after.strip().isdigit():
                return float(retry_after)
            return True
    return False


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ``ClientError`` ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def call(fn: Callable[[], T], what: str) -> T:
    """Run one SDK call with flowyml's retries; credential/region problems become ``ConfigError``."""
    from botocore import exceptions as bex

    try:
        return call_with_retry(fn, transient=transient, what=what)
    except (bex.NoCredentialsError, bex.PartialCredentialsError) as exc:
        raise ConfigError(f"{what}: {CREDENTIALS_HELP} ({exc})") from exc
    except bex.NoRegionError as exc:
        raise ConfigError(f"{what}: {REGION_HELP}") from exc


def client_error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    err = response.get("Error", {})
    return f"{err.get('Code', type(exc).__name__)}: {err.get('Message', str(exc))}"


def backend_error(what: str, exc: BaseException) -> BackendError:
    """A non-transient AWS error as a flowyml ``BackendError`` naming the call."""
    return BackendError(f"{what} failed: {client_error_message(exc)}")


def client(
    service: str,
    *,
    region: str | None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    session_token: str | None = None,
    addressing_style: str | None = None,
) -> Any:
    """A cached boto3 client (clients are thread-safe) configured for flowyml's retry policy."""
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    key = (service, region, endpoint_url, profile, access_key, secret_key, session_token, addressing_style)
    with _LOCK:
        cached = _CLIENTS.get(key)
    if cached is not None:
        return cached
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        profile_name=profile,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=session_token,
        region_name=region,
    )
    if not session.region_name:
        raise ConfigError(f"{service}: {REGION_HELP}")
    style = addressing_style or ("path" if endpoint_url else None)
    cfg = Config(
        region_name=session.region_name,
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=32,
        s3={"addressing_style": style} if style else None,
        user_agent_extra="flowyml/0.1.0",
    )
    made = session.client(service, endpoint_url=endpoint_url, config=cfg)
    with _LOCK:
        _CLIENTS[key] = made
    return made


def client_for(service: str, config: Any) -> Any:
    """A client from a backend config (``AWSConnection`` fields)."""
    return client(
        service,
        region=config.region,
        endpoint_url=config.endpoint_url,
        profile=config.profile,
        access_key=config.aws_access_key_id,
        secret_key=config.aws_secret_access_key,
        session_token=config.aws_session_token,
    )
