"""boto3 sessions and clients, the transient-error predicate, and ``call`` (every SDK call goes through it).

flowyml owns the retries: clients are built with botocore's ``total_max_attempts=1`` so a create
request is never re-sent blindly; ``call`` retries throttling, 5xx and connection errors with
backoff + jitter (``call_with_retry``), and the submit code looks for a job a lost attempt created
before creating again.

One connection error is not retried: an endpoint botocore built from a region it does not know
(for that service, in any partition) that cannot be reached is a mistyped region, not an outage,
so it raises :class:`UnknownRegionError` at once, naming the region and where it was set. A region
botocore does not know whose endpoint answers (a region newer than botocore) works as any other.
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


class UnknownRegionError(ConfigError):
    """The endpoint of a region botocore does not know cannot be reached: a wrong region (not retried)."""


def region_known(session: Any, service: str, region: str) -> bool:
    """Whether botocore's own endpoint data has ``region`` for ``service`` in any partition (no network).

    True when botocore lists no region at all for the service (a global one): then it cannot tell.
    """
    try:
        listed = [session.get_available_regions(service, p) for p in session.get_available_partitions()]
    except Exception:  # botocore's data unreadable: do not judge
        return True
    return not any(listed) or any(region in regions for regions in listed)


def region_source(region: str | None, profile: str | None) -> str:
    """Where boto3's chain found the region when no setting gave one."""
    if region:
        return "`region:` in the settings"
    if os.environ.get("AWS_REGION"):
        return "the environment variable AWS_REGION"
    if os.environ.get("AWS_DEFAULT_REGION"):
        return "the environment variable AWS_DEFAULT_REGION"
    name = profile or os.environ.get("AWS_PROFILE") or "default"
    where = os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    return f"the `region` of the AWS profile {name!r} in {where}"


def _unknown_region_check(session: Any, service: str, region: str, source: str) -> Callable[..., None]:
    """An ``after-call-error`` handler: an unreachable endpoint botocore built from an unknown region
    raises :class:`UnknownRegionError` in place of the connection error (which ``call`` would retry)."""

    def check(exception: BaseException | None = None, **_: Any) -> None:
        from urllib.parse import urlsplit

        from botocore.exceptions import EndpointConnectionError

        if not isinstance(exception, EndpointConnectionError):
            return
        host = urlsplit(str(exception.kwargs.get("endpoint_url") or "")).hostname or ""
        if f".{region}." not in f".{host}." or region_known(session, service, region):
            return  # a custom endpoint (AWS_ENDPOINT_URL, the profile's), or a region botocore knows: an outage
        raise UnknownRegionError(
            f"{service}: AWS region {region!r} (from {source}) is unknown to the installed AWS SDK for {service}, "
            f"and its endpoint {host} cannot be reached: correct it to an AWS region such as eu-west-1 (`aws ec2 "
            "describe-regions` lists them), or set `endpoint_url:` if the service has an endpoint of its own there"
        ) from exception

    return check


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
    source: str | None = None,
) -> Any:
    """A cached boto3 client configured for flowyml's retry policy.

    With no ``region``, boto3's usual chain decides (``AWS_REGION``, ``AWS_DEFAULT_REGION``,
    the profile's ``region``); no default region is assumed. ``source`` names the setting
    ``region`` came from (``orchestrator.region``), for :class:`UnknownRegionError`.
    """
    source = (source if region else None) or region_source(region, profile)
    region = region or os.environ.get("AWS_REGION") or None
    key = (service, region, endpoint_url, profile, access_key, secret_key, session_token, addressing_style, source)

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
            made = session.client(service, endpoint_url=endpoint_url, config=cfg)
        except InvalidRegionError as exc:  # e.g. AWS_REGION=eu_west_1 (a config's region is checked when loaded)
            raise ConfigError(
                f"{service}: {session.region_name!r} is not an AWS region name: set `region:` in the orchestrator "
                "config / store settings, or AWS_REGION, to one such as eu-west-1"
            ) from exc
        if not endpoint_url:  # an endpoint flowyml was given is never judged by the region's name
            check = _unknown_region_check(session, service, str(session.region_name), source)
            made.meta.events.register("after-call-error", check)
        return made

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
        source="orchestrator.region",
    )
