"""HTTP calls to the job server (stdlib urllib, no SDK) and the one rule for what is transient.

Every call goes through :func:`flowyml.plugins.retry.call_with_retry`: this module only decides
*whether* an error is worth retrying; core decides how long to wait and when to give up (then it
raises ``TransientBackendError``, which flowyml reports as "state unknown", never as FAILED).
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from flowyml.core.errors import BackendError, RunNotFoundError
from flowyml.plugins.retry import call_with_retry
from flowyml_httpjobs.config import TOKEN_ENV, HttpJobsConfig

#: Answers that mean "try again later": throttled, or the service is briefly unwell.
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


class ApiError(BackendError):
    """The server answered with an error status."""

    def __init__(self, status: int, message: str, doc: Mapping[str, Any], retry_after: float | None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status, self.doc, self.retry_after = status, dict(doc), retry_after


def transient(exc: BaseException) -> bool | float:
    """True (retry with backoff), the seconds the server asked us to wait, or False (give up now)."""
    if isinstance(exc, ApiError):
        if exc.status not in TRANSIENT_STATUS:
            return False
        return True if exc.retry_after is None else exc.retry_after
    # connection refused / reset, DNS hiccups and timeouts: the server may be restarting
    return isinstance(exc, (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout))


class Client:
    """One method per API call; each returns the decoded JSON answer."""

    def __init__(self, config: HttpJobsConfig) -> None:
        self.config = config
        self.base = config.url.rstrip("/")

    def _once(self, method: str, path: str, body: Any) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.config.token:
            request.add_header("Authorization", f"Bearer {self.config.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.config.request_timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                doc = json.loads(raw) if raw else {}
            except ValueError:
                doc = {"error": raw.decode(errors="replace")[:200]}
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            raise ApiError(
                exc.code,
                str(doc.get("error") or exc.reason),
                doc,
                float(retry_after) if retry_after not in (None, "") else None,
            ) from None

    def call(self, method: str, path: str, body: Any = None, *, what: str) -> Any:
        """One request, retried while the error is transient."""
        return self._retrying(lambda: self._once(method, path, body), what=what)

    def _retrying(self, attempt: Callable[[], Any], *, what: str) -> Any:
        """``attempt`` under ``call_with_retry``; 401/403 explained."""
        try:
            return call_with_retry(attempt, transient=transient, what=f"httpjobs {what} ({self.base})")
        except ApiError as exc:
            if exc.status in (401, 403):
                raise BackendError(
                    f"the httpjobs server at {self.base} refused our token (HTTP {exc.status}): set the stack's "
                    f"token (token: ${{{TOKEN_ENV}}}) or ${TOKEN_ENV} to the server's --token"
                ) from None
            raise

    # -- the API -------------------------------------------------------------------------------
    def create_job(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create a job; None if it already exists (made by an earlier attempt whose answer was lost).

        A create that failed transiently may still have happened, so every retry first looks the
        job up by name, and creates it only if it is not there.
        """
        tried = False

        def attempt() -> dict[str, Any] | None:
            nonlocal tried
            if tried and self.find_job(body["name"]) is not None:
                return None
            tried = True
            return self._once("POST", "/jobs", dict(body))

        try:
            return self._retrying(attempt, what="create job")
        except ApiError as exc:
            if exc.status == 409:
                return None
            raise

    def find_job(self, name: str) -> dict[str, Any] | None:
        """The job, or None if the server has none by that name (one attempt: callers retry)."""
        try:
            return self._once("GET", f"/jobs/{quote(name)}", None)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def list_jobs(self, label: str, value: str, *, what: str = "list jobs") -> list[dict[str, Any]]:
        query = urlencode({"label": f"{label}={value}"})
        return self.call("GET", f"/jobs?{query}", what=what)["jobs"]

    def cancel_job(self, name: str, graceful: bool) -> bool:
        try:
            doc = self.call("POST", f"/jobs/{quote(name)}/cancel", {"graceful": graceful}, what="cancel job")
        except ApiError as exc:
            if exc.status == 404:
                raise RunNotFoundError(f"httpjobs server {self.base} has no job {name!r}") from None
            raise
        return bool(doc["cancel_requested"])

    def job_logs(self, name: str, offset: int) -> dict[str, Any]:
        try:
            return self.call("GET", f"/jobs/{quote(name)}/logs?offset={offset}", what="read logs")
        except ApiError as exc:
            if exc.status == 404:
                raise RunNotFoundError(f"httpjobs server {self.base} has no job {name!r}") from None
            raise
