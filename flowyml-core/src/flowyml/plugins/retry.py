"""Bounded retries with backoff, jitter and a retry budget — the one retry loop for SDK calls.

Backends decide what is transient (throttling, 5xx, timeouts, dropped connections); this module
decides how long to wait and how many retries the process may spend. The budget is a token
bucket shared by every call (as botocore's standard mode does): during an outage each call
soon makes one attempt instead of six, so retries don't multiply the traffic.

Tests shrink the waits with ``FLOWYML_BACKEND_RETRY_DELAY`` and inject faults with
:func:`inject_faults` — every backend that routes its SDK calls through :func:`call_with_retry`
gets fault injection for free, with no test globals of its own.
"""

from __future__ import annotations

__all__ = [
    "call_with_retry",
    "RetryBudget",
    "budget",
    "current_operation",
    "connection_dropped",
    "InjectedFault",
    "inject_faults",
    "faults_left",
]

import contextlib
import contextvars
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from flowyml.core.errors import TransientBackendError

T = TypeVar("T")
log = logging.getLogger("flowyml.retry")

#: The backend operation being dispatched ("submit", "status", "cancel", "logs", "details"); set by core.
current_operation: contextvars.ContextVar[str | None] = contextvars.ContextVar("flowyml_operation", default=None)

_DROPPED_NAMES = frozenset(
    {
        "IncompleteRead",
        "ChunkedEncodingError",
        "ProtocolError",
        "RemoteDisconnected",
        "ConnectionResetError",
        "ConnectionAbortedError",
        "BrokenPipeError",
        "ResponseStreamingError",
        "ServiceRequestError",
        "ServiceResponseError",
    }
)


def connection_dropped(exc: BaseException) -> bool:
    """True for a connection that broke mid-request or mid-body, whatever library raised it.

    ``http.client.IncompleteRead``, requests' ``ChunkedEncodingError``, urllib3's
    ``ProtocolError``, ``ConnectionResetError`` ... — also when wrapped as a cause or context.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
            return True
        if any(cls.__name__ in _DROPPED_NAMES for cls in type(current).__mro__):
            return True
        current = current.__cause__ or current.__context__
    return False


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An SDK error's text on one line (Azure's are several: ``(Code) msg\nCode: ...\nMessage: ...``)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def retry_settings() -> tuple[int, float, float]:
    """(attempts, base delay, max delay) from the environment, with production defaults."""
    return (
        int(os.environ.get("FLOWYML_BACKEND_RETRY_ATTEMPTS", "6")),
        float(os.environ.get("FLOWYML_BACKEND_RETRY_DELAY", "0.5")),
        float(os.environ.get("FLOWYML_BACKEND_RETRY_MAX_DELAY", "30")),
    )


class RetryBudget:
    """A token bucket: each retry costs ``cost`` tokens, each success refunds one (up to ``capacity``).

    When the bucket is empty, calls stop retrying and fail at once as transient.
    """

    def __init__(self, capacity: float = 100.0, cost: float = 5.0) -> None:
        self.capacity = capacity
        self.cost = cost
        self.tokens = capacity
        self._lock = threading.Lock()

    def spend(self) -> bool:
        with self._lock:
            if self.tokens < self.cost:
                return False
            self.tokens -= self.cost
            return True

    def refund(self) -> None:
        with self._lock:
            self.tokens = min(self.capacity, self.tokens + 1)

    def reset(self) -> None:
        with self._lock:
            self.tokens = self.capacity


#: The process-wide retry budget.
budget = RetryBudget(float(os.environ.get("FLOWYML_BACKEND_RETRY_BUDGET", "100")))


class InjectedFault(ConnectionResetError):
    """A transient failure injected by :func:`inject_faults` (tests and the conformance kit)."""


_faults: dict[str, int] = {}
_faults_lock = threading.Lock()


@contextlib.contextmanager
def inject_faults(operation: str, count: int) -> Iterator[None]:
    """Make the next ``count`` SDK calls made during ``operation`` fail transiently.

    ``operation`` is a backend operation (``"submit"``, ``"status"``, ``"cancel"``, ``"logs"``,
    ``"details"``) or ``"*"`` for any. The call is not made: the failure happens in front of it,
    as a dropped connection would, so the backend's retry predicate sees a real exception.
    """
    with _faults_lock:
        _faults[operation] = _faults.get(operation, 0) + count
    try:
        yield
    finally:
        with _faults_lock:
            _faults.pop(operation, None)


def faults_left(operation: str) -> int:
    """Injected faults not yet consumed for ``operation``."""
    with _faults_lock:
        return _faults.get(operation, 0)


def _take_fault() -> bool:
    if not _faults:
        return False
    op = current_operation.get()
    with _faults_lock:
        for key in (op, "*"):
            if key is not None and _faults.get(key, 0) > 0:
                _faults[key] -= 1
                return True
    return False


def call_with_retry(
    fn: Callable[[], T],
    *,
    transient: Callable[[BaseException], bool | float],
    what: str,
    attempts: int | None = None,
    base_delay: float | None = None,
    max_delay: float | None = None,
) -> T:
    """Call ``fn``; on an error ``transient`` accepts, wait and try again.

    ``transient(exc)`` returns False (not transient: re-raised at once), True (retry with
    backoff) or a number of seconds the service asked us to wait (``Retry-After``). Dropped
    connections (:func:`connection_dropped`) are transient whatever the predicate says. When the
    attempts or the process's retry budget run out, :class:`TransientBackendError` is raised from
    the last error — callers report the run's status as unknown, never as failed.
    """
    env_attempts, env_base, env_max = retry_settings()
    attempts = env_attempts if attempts is None else attempts
    base = env_base if base_delay is None else base_delay
    cap = env_max if max_delay is None else max_delay
    for attempt in range(attempts):
        try:
            if _take_fault():
                raise InjectedFault(f"injected transient fault ({what})")
            result = fn()
        except Exception as exc:
            verdict: bool | float = True if connection_dropped(exc) else transient(exc)
            if verdict is False:
                raise
            if attempt == attempts - 1:
                raise TransientBackendError(f"{what} failed after {attempts} attempts: {one_line(exc)}") from exc
            if not budget.spend():
                raise TransientBackendError(f"{what} failed and the retry budget is spent: {one_line(exc)}") from exc
            delay = min(cap, base * 2**attempt) * (0.5 + random.random() / 2)
            if verdict is not True and isinstance(verdict, (int, float)):
                delay = min(cap, max(delay, float(verdict)))
            log.warning(
                "%s: transient error (%s); retry %d/%d in %.2fs", what, one_line(exc), attempt + 1, attempts - 1, delay
            )
            time.sleep(delay)
        else:
            budget.refund()
            return result
    raise AssertionError("unreachable")
