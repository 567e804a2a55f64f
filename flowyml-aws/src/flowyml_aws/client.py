"""boto3 sessions and clients, the transient-error predicate, and ``call`` (every SDK call goes through it).

flowyml owns the retries: clients are built with botocore's ``total_max_attempts=1`` so a create
request is never re-sent blindly; ``call`` retries throttling, 5xx and connection errors with
backoff + jitter (``call_with_retry``), and the submit code looks for a job a lost attempt created
before creating again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import flowyml
from flowyml.core.errors import AuthError, BackendError, ConfigError, FlowymlError, RefusedError
from flowyml.plugins.clients import ClientCache
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

#: boto3 clients by their settings (clients are thread-safe; building one is slow)
CLIENTS: ClientCache[Any] = ClientCache()

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


def client_error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    err = response.get("Error", {})
    return f"{err.get('Code', type(exc).__name__)}: {err.get('Message', str(exc))}"


_GRANT = "grant the identity the permission named above (IAM), or use a profile/role that has it"
_UNKNOWN_KEY = "AWS does not know this access key: set valid AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
_EXPIRED = "the session credentials expired: refresh them (`aws sso login`, a new AWS_SESSION_TOKEN)"
#: error codes that mean "who you are / what you may do" (-> AuthError), with what to set
AUTH_CODES = {
    "AccessDenied": _GRANT,
    "AccessDeniedException": _GRANT,
    "UnauthorizedOperation": _GRANT,
    "UnrecognizedClientException": _UNKNOWN_KEY,
    "InvalidClientTokenId": _UNKNOWN_KEY,
    "InvalidAccessKeyId": _UNKNOWN_KEY,
    "SignatureDoesNotMatch": "the secret key does not match the access key: set the right AWS_SECRET_ACCESS_KEY",
    "ExpiredToken": _EXPIRED,
    "ExpiredTokenException": _EXPIRED,
    "RequestExpired": "the request expired: check the machine's clock, then refresh the credentials",
}
#: error codes that mean "the service understood and said no" (-> RefusedError)
REFUSED_CODES = frozenset(
    {
        "ValidationException",
        "ValidationError",
        "ClientException",
        "InvalidParameterException",
        "InvalidParameterValueException",
        "ResourceInUse",
        "ResourceLimitExceeded",
        "ConflictException",
        "ResourceNotFound",
        "ResourceNotFoundException",
        "ServiceQuotaExceededException",
    }
)


def typed_error(what: str, exc: BaseException) -> FlowymlError | None:
    """The flowyml error for an AWS SDK exception (``None`` if it is not one we know).

    Missing/expired/unknown credentials and access denied -> :class:`AuthError` with one line
    saying what to set; a request the service rejected -> :class:`RefusedError`; any other
    ``ClientError`` -> :class:`BackendError`. The message carries AWS's code and text, never
    the SDK's traceback.
    """
    from botocore import exceptions as bex

    if isinstance(exc, (bex.NoCredentialsError, bex.PartialCredentialsError, bex.ProfileNotFound)):
        return AuthError(f"{what}: {CREDENTIALS_HELP} ({exc})")
    if isinstance(exc, bex.TokenRetrievalError | bex.SSOTokenLoadError | bex.UnauthorizedSSOTokenError):
        return AuthError(f"{what}: the SSO session expired ({exc}): run `aws sso login` for the profile")
    if isinstance(exc, bex.NoRegionError):
        return ConfigError(f"{what}: {REGION_HELP}")
    if not isinstance(exc, bex.ClientError):
        return None
    code = error_code(exc)
    status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    if code in AUTH_CODES:
        return AuthError(f"{what}: {client_error_message(exc)}; {AUTH_CODES[code]}")
    if status in (401, 403):
        return AuthError(f"{what}: {client_error_message(exc)}; {AUTH_CODES['AccessDenied']}")
    if code in REFUSED_CODES or 400 <= status < 500:
        return RefusedError(f"{what}: {client_error_message(exc)}")
    return BackendError(f"{what} failed: {client_error_message(exc)}")


def call(fn: Callable[[], T], what: str) -> T:
    """Run one SDK call with flowyml's retries; credential/region problems become typed errors."""
    from botocore import exceptions as bex

    try:
        return call_with_retry(fn, transient=transient, what=what)
    except (bex.NoCredentialsError, bex.PartialCredentialsError, bex.NoRegionError) as exc:
        raise typed_error(what, exc) from exc  # type: ignore[misc]


def backend_error(what: str, exc: BaseException) -> FlowymlError:
    """A non-transient AWS error as a typed flowyml error naming the call."""
    return typed_error(what, exc) or BackendError(f"{what} failed: {type(exc).__name__}: {exc}")


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
    """A cached boto3 client configured for flowyml's retry policy.

    With no ``region``, boto3's usual chain decides (``AWS_REGION``, ``AWS_DEFAULT_REGION``,
    the profile's ``region``); no default region is assumed.
    """
    region = region or os.environ.get("AWS_REGION") or None
    key = (service, region, endpoint_url, profile, access_key, secret_key, session_token, addressing_style)

    def build() -> Any:
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
            user_agent_extra=f"flowyml/{flowyml.__version__}",
        )
        from botocore.exceptions import InvalidRegionError

        try:
            return session.client(service, endpoint_url=endpoint_url, config=cfg)
        except InvalidRegionError as exc:  # e.g. AWS_REGION=eu_west_1 (a config's region is checked when loaded)
            raise ConfigError(
                f"{service}: {session.region_name!r} is not an AWS region name: set `region:` in the orchestrator "
                "config / store settings, or AWS_REGION, to one such as eu-west-1"
            ) from exc

    return CLIENTS.get(key, build)


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
