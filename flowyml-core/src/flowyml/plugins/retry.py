"""Bounded retries with exponential backoff and jitter, shared by every backend's SDK calls.

Backends decide what is transient (throttling, 5xx, timeouts, dropped connections); this module
decides how long to wait. Tests shrink the waits with ``FLOWYML_BACKEND_RETRY_DELAY``.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from typing import TypeVar

from flowyml.core.errors import TransientBackendError

T = TypeVar("T")
log = logging.getLogger("flowyml.retry")


def retry_settings() -> tuple[int, float, float]:
    """(attempts, base delay, max delay) from the environment, with production defaults."""
    return (
        int(os.environ.get("FLOWYML_BACKEND_RETRY_ATTEMPTS", "6")),
        float(os.environ.get("FLOWYML_BACKEND_RETRY_DELAY", "0.5")),
        float(os.environ.get("FLOWYML_BACKEND_RETRY_MAX_DELAY", "30")),
    )


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
    backoff) or a number of seconds the service asked us to wait (``Retry-After``). When the
    attempts run out, :class:`TransientBackendError` is raised from the last error — callers
    report the run's status as unknown, never as failed.
    """
    env_attempts, env_base, env_max = retry_settings()
    attempts = env_attempts if attempts is None else attempts
    base = env_base if base_delay is None else base_delay
    cap = env_max if max_delay is None else max_delay
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:
            verdict = transient(exc)
            if verdict is False:
                raise
            if attempt == attempts - 1:
                raise TransientBackendError(f"{what} failed after {attempts} attempts: {exc}") from exc
            delay = min(cap, base * 2**attempt) * (0.5 + random.random() / 2)
            if verdict is not True and isinstance(verdict, (int, float)):
                delay = min(cap, max(delay, float(verdict)))
            log.warning("%s: transient error (%s); retry %d/%d in %.2fs", what, exc, attempt + 1, attempts - 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")
