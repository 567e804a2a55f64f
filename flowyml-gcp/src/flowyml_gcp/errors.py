"""Google SDK errors as flowyml's typed errors: what to set for auth, what was refused, one line each."""

from __future__ import annotations

from flowyml.core.errors import AuthError, FlowymlError, RefusedError

CREDENTIALS_HINT = (
    "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file"
)
_ROLES = {"Cloud Logging": "roles/logging.viewer", "Vertex AI": "roles/aiplatform.user"}


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(getattr(exc, "message", None) or exc).split())
    return text[:300] + ("..." if len(text) > 300 else "")


def service_of(exc: BaseException) -> str:
    """Which Google service answered: Cloud Logging (``entries:list``) or Vertex AI."""
    response = getattr(exc, "response", None)
    url = str(getattr(response, "url", "") or getattr(getattr(response, "request", None), "url", "") or "")
    return "Cloud Logging" if "entries:list" in url or "logging." in url else "Vertex AI"


def translate(exc: BaseException, operation: str) -> FlowymlError | None:
    """The flowyml error for a google-auth / google-api-core exception, else None (core wraps it)."""
    try:
        from google.api_core import exceptions as gexc
        from google.auth import exceptions as auth_exc
    except ImportError:  # pragma: no cover - the SDK raised it, so the SDK is there
        return None
    where = f"vertex_ai {operation}"
    if isinstance(exc, auth_exc.DefaultCredentialsError):
        return AuthError(f"{where}: no Google credentials found: {CREDENTIALS_HINT}")
    if isinstance(exc, auth_exc.RefreshError):
        return AuthError(
            f"{where}: the Google credentials could not be refreshed ({_one_line(exc)}): {CREDENTIALS_HINT}"
        )
    if not isinstance(exc, gexc.GoogleAPICallError):
        return None
    service = service_of(exc)
    if isinstance(exc, (gexc.Unauthorized, gexc.Unauthenticated)):
        return AuthError(f"{where}: {service} rejected the credentials ({exc.code}): {CREDENTIALS_HINT}")
    if isinstance(exc, (gexc.Forbidden, gexc.PermissionDenied)):
        return AuthError(
            f"{where}: {service} denied permission ({_one_line(exc)}): grant {_ROLES[service]} on the project "
            "to the account flowyml runs as, or set GOOGLE_APPLICATION_CREDENTIALS to an account that has it"
        )
    if isinstance(exc, gexc.ClientError):  # 400 InvalidArgument, FailedPrecondition, 404, 409, ...
        return RefusedError(f"{where}: {service} refused the request: {_one_line(exc)}")
    return None
