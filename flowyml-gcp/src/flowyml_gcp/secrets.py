"""Google Secret Manager for Vertex AI jobs: ``gcp-sm://projects/P/secrets/S[/versions/V]``.

Resolved inside the job, by the step-runner at start-up, with the job's service account
(Application Default Credentials; it needs ``roles/secretmanager.secretAccessor``), through
Secret Manager's REST API (``...:access``) with google-auth — no extra SDK. ``V`` defaults to
``latest``. ``$FLOWYML_GCP_SECRETMANAGER_ENDPOINT`` points it at another endpoint (a private one;
a local one gets anonymous credentials, as every flowyml-gcp client does).
"""

from __future__ import annotations

import base64
import os
import re
from typing import Any

from flowyml.plugins import hookimpl
from flowyml.plugins.clients import ClientCache
from flowyml.plugins.hookspecs import RegisterSecret
from flowyml.plugins.retry import call_with_retry
from flowyml.secrets import SecretError

ENDPOINT_ENV = "FLOWYML_GCP_SECRETMANAGER_ENDPOINT"
DEFAULT_ENDPOINT = "https://secretmanager.googleapis.com"
_NAME = re.compile(r"^projects/[^/]+/secrets/[^/]+(/versions/[^/]+)?$")
_SESSIONS: ClientCache[Any] = ClientCache()


def _session(endpoint: str) -> Any:
    return _SESSIONS.get(endpoint, lambda: _new_session(endpoint))


def _new_session(endpoint: str) -> Any:
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.auth.transport.requests import AuthorizedSession

    local = re.match(r"^https?://(127\.0\.0\.1|localhost)(:\d+)?(/|$)", endpoint) is not None
    creds = (
        AnonymousCredentials()
        if local
        else google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])[0]
    )
    return AuthorizedSession(creds)


def _transient(exc: BaseException) -> bool:
    import requests  # type: ignore[import-untyped]  # installed with google-auth[requests]

    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return True
    response = getattr(exc, "response", None)
    return response is not None and (response.status_code == 429 or response.status_code >= 500)


def read_secret(path: str) -> str:
    """The payload of ``gcp-sm://projects/P/secrets/S[/versions/V]`` (the latest version by default)."""
    if not _NAME.match(path):
        raise SecretError(f"gcp-sm://{path}: expected gcp-sm://projects/PROJECT/secrets/NAME[/versions/VERSION]")
    name = path if "/versions/" in path else f"{path}/versions/latest"
    endpoint = os.environ.get(ENDPOINT_ENV, DEFAULT_ENDPOINT).rstrip("/")
    session = _session(endpoint)

    def access() -> Any:
        response = session.get(f"{endpoint}/v1/{name}:access", timeout=30)
        response.raise_for_status()
        return response.json()

    try:
        answer = call_with_retry(access, transient=_transient, what=f"Secret Manager access {name}")
    except Exception as exc:
        response = getattr(exc, "response", None)
        if response is None:
            raise
        message = (response.json() if "json" in response.headers.get("content-type", "") else {}).get("error", {})
        said = f"{message.get('status', '')} {message.get('message', '')}".strip()
        raise SecretError(f"gcp-sm://{path}: HTTP {response.status_code} {said}".rstrip()) from None
    return base64.b64decode(answer["payload"]["data"]).decode()


@hookimpl
def flowyml_register_secrets(register: RegisterSecret) -> None:
    register(
        "gcp-sm", read_secret, description="Google Secret Manager (the job's service account reads it)", extra="gcp"
    )
