"""The Ray Jobs API client: one ``JobSubmissionClient`` per address, every call retried through core.

``JobSubmissionClient`` reports HTTP errors as ``RuntimeError("Request failed with status code
<n>: <text>")`` and an unreachable dashboard as ``ConnectionError``; this module reads those once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from flowyml.core.errors import AuthError, FlowymlError, RefusedError, RunNotFoundError
from flowyml.plugins.clients import ClientCache
from flowyml.plugins.retry import call_with_retry
from flowyml_ray.config import RayConfig

T = TypeVar("T")
_STATUS = re.compile(r"status code (\d{3})")
_clients: ClientCache[Any] = ClientCache()


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a Jobs API error, or None for anything else."""
    if not isinstance(exc, RuntimeError):
        return None
    found = _STATUS.search(str(exc))
    return int(found.group(1)) if found else None


def already_exists(exc: BaseException) -> bool:
    """The error Ray answers a submit with when the submission id is taken (HTTP 500 wrapping a 400)."""
    return isinstance(exc, RuntimeError) and "already exists" in str(exc) and "submission_id" in str(exc)


def server_reason(exc: BaseException) -> str:
    """The last line of the dashboard's error text (Ray sends a Python traceback)."""
    text = str(exc).strip().rstrip(".").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip() and line.strip() != "."]
    return lines[-1] if lines else type(exc).__name__


def transient(exc: BaseException) -> bool:
    """Connection problems, timeouts, throttling and server errors are retried (a taken id is not)."""
    import requests  # type: ignore[import-untyped]  # installed with ray[default]

    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return True  # incl. "Failed to connect to Ray at address" (a dashboard restarting, a head node rebooting)
    code = http_status(exc)
    return code is not None and (code >= 500 or code == 429) and not already_exists(exc)


def call(fn: Callable[[], T], what: str) -> T:
    return call_with_retry(fn, transient=transient, what=what)


def client_for(config: RayConfig) -> Any:
    """The cached client of ``config``'s address (building one checks the cluster's Ray version)."""
    address = config.jobs_address()
    headers = {"Authorization": f"Bearer {config.auth_token}"} if config.auth_token else None

    def make() -> Any:
        from ray.job_submission import JobSubmissionClient

        return call(
            lambda: JobSubmissionClient(address, headers=headers, verify=config.verify_tls),
            f"connect to the Ray Jobs API at {address}",
        )

    return _clients.get((address, config.auth_token, config.verify_tls), make)


def translate(exc: BaseException, operation: str) -> FlowymlError | None:
    """Jobs API errors as typed flowyml errors: 401/403 AuthError, 404 RunNotFoundError, other 4xx RefusedError."""
    code = http_status(exc)
    if code in (401, 403) or type(exc).__name__ == "AuthenticationError":  # ray.exceptions: Ray's own 401/403
        code = code or 401
        return AuthError(
            f"ray {operation}: the Ray Jobs API refused the request (HTTP {code}): set orchestrator.auth_token "
            "(sent as 'Authorization: Bearer') to a token the cluster or its proxy accepts, e.g. "
            "auth_token: ${RAY_TOKEN}"
        )
    if code == 404:
        return RunNotFoundError(f"ray {operation}: {server_reason(exc)} (the Ray cluster does not know this job)")
    if code is not None and 400 <= code < 500:
        return RefusedError(f"ray {operation}: the Ray Jobs API refused it: {server_reason(exc)}")
    if isinstance(exc, TypeError | ValueError) and operation == "submit":
        return RefusedError(f"ray submit: Ray rejected the job's settings: {exc} (check orchestrator.runtime_env)")
    return None
