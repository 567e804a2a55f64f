"""Decorators for users' own coroutines: ``with_retry``, ``with_timeout``, ``with_semaphore``."""

from __future__ import annotations

__all__ = ["with_retry", "with_semaphore", "with_timeout"]

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

log = logging.getLogger("flowyml.aio")
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def _require_async(fn: Callable[..., Any], decorator: str) -> None:
    if not asyncio.iscoroutinefunction(fn):
        raise TypeError(f"@{decorator} needs an async function; wrap sync code with flowyml.aio.to_async first")


def with_retry(
    max_retries: int = 3,
    delay: float = 1.0,
    backoff: float = 2.0,
    *,
    max_delay: float | None = None,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
) -> Callable[[F], F]:
    """Retry on ``retry_on`` errors up to ``max_retries`` times, waiting ``delay * backoff**n`` seconds."""
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")

    def decorate(fn: F) -> F:
        _require_async(fn, "with_retry")

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            wait = delay
            for attempt in range(max_retries + 1):
                try:
                    return await fn(*args, **kwargs)
                except retry_on as exc:
                    if attempt == max_retries:
                        raise
                    pause = wait if max_delay is None else min(wait, max_delay)
                    log.warning(
                        "%s failed (%s); retry %d/%d in %.2fs", fn.__qualname__, exc, attempt + 1, max_retries, pause
                    )
                    await asyncio.sleep(pause)
                    wait *= backoff
            raise AssertionError("unreachable")

        return wrapper  # type: ignore[return-value]

    return decorate


def with_timeout(seconds: float) -> Callable[[F], F]:
    """Cancel the call after ``seconds`` and raise ``TimeoutError``."""

    def decorate(fn: F) -> F:
        _require_async(fn, "with_timeout")

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await asyncio.wait_for(fn(*args, **kwargs), seconds)
            except asyncio.TimeoutError:
                raise TimeoutError(f"{fn.__qualname__} timed out after {seconds:g}s") from None

        return wrapper  # type: ignore[return-value]

    return decorate


def with_semaphore(semaphore: asyncio.Semaphore | int) -> Callable[[F], F]:
    """At most N calls at once: pass a semaphore, or a number (one semaphore per event loop)."""
    per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()

    def current() -> asyncio.Semaphore:
        if isinstance(semaphore, asyncio.Semaphore):
            return semaphore
        loop = asyncio.get_running_loop()
        if loop not in per_loop:
            per_loop[loop] = asyncio.Semaphore(semaphore)
        return per_loop[loop]

    def decorate(fn: F) -> F:
        _require_async(fn, "with_semaphore")

        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            async with current():
                return await fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
