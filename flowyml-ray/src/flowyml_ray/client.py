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


class JobInfo:
    """A job's details as the Jobs API sends them (``GET /api/jobs/{id}``), read as attributes.

    The SDK's ``JobDetails`` has the same field names (``status``, ``message``, ``driver_exit_code``,
    ``submission_id``, ...); a field the server did not send reads None.
    """

    def __init__(self, doc: dict[str, Any]) -> None:
        self._doc = doc

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._doc.get(name)


def get_json(config: RayConfig, path: str, what: str) -> Any:
    """``GET`` a Jobs API path as JSON without importing Ray (about 0.7 s): the status path stays quick.

    Errors read as the SDK's do, so :func:`transient` and :func:`translate` treat both alike: an HTTP
    error is ``RuntimeError("Request failed with status code <n>: <text>")``, no answer a ``ConnectionError``.
    """
    import json
    import urllib.error
    import urllib.request

    address = config.jobs_address()
    url = address + path
    headers = {"Authorization": f"Bearer {config.auth_token}"} if config.auth_token else {}
    context = None
    if not config.verify_tls and url.startswith("https:"):
        import ssl

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE

    def fetch() -> Any:
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            raise RuntimeError(f"Request failed with status code {exc.code}: {text}.") from None
        except urllib.error.URLError as exc:
            raise ConnectionError(f"Failed to connect to Ray at address: {address}: {exc.reason}") from None
        except OSError as exc:  # a reset or timed-out connection
            raise ConnectionError(f"Failed to connect to Ray at address: {address}: {exc}") from None

    return call(fetch, what)


def plain_http(config: RayConfig) -> bool:
    """True for an ``http(s)://`` Jobs API address; a provider's own scheme (``anyscale://``) needs its SDK."""
    return config.jobs_address().startswith(("http://", "https://"))


def job_info(config: RayConfig, job_id: str) -> Any:
    """``get_job_info``: over plain HTTP (no Ray import) where the address allows, else through the SDK."""
    if not plain_http(config):
        client = client_for(config)
        return call(lambda: client.get_job_info(job_id), f"get Ray job {job_id}")
    from urllib.parse import quote

    return JobInfo(get_json(config, f"/api/jobs/{quote(job_id, safe='')}", f"get Ray job {job_id}"))


def list_job_infos(config: RayConfig) -> list[Any]:
    """``list_jobs``: over plain HTTP (no Ray import) where the address allows, else through the SDK."""
    if not plain_http(config):
        return list(call(client_for(config).list_jobs, "list Ray jobs"))
    return [JobInfo(doc) for doc in get_json(config, "/api/jobs/", "list Ray jobs") or []]


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
        return RunNotFoundError(
            f"ray {operation}: {server_reason(exc)} (the Ray cluster does not know this job: Ray keeps jobs only "
            "while its head node runs, so the cluster was restarted since, or the job was deleted; the run's "
            "outputs so far are in its artifact store)"
        )
    if code is not None and 400 <= code < 500:
        return RefusedError(f"ray {operation}: the Ray Jobs API refused it: {server_reason(exc)}")
    if isinstance(exc, TypeError | ValueError) and operation == "submit":
        return RefusedError(f"ray submit: Ray rejected the job's settings: {exc} (check orchestrator.runtime_env)")
    return None
