"""Running blocking calls off the event loop: one shared I/O thread pool, and sync-to-async adapters."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _make_pool(size: int, prefix: str) -> ThreadPoolExecutor:
    """A thread pool whose threads are all started by a helper thread, not by the caller.

    ``ThreadPoolExecutor`` starts a thread inside ``submit`` while it is below its size, and
    ``Thread.start`` waits until the new thread runs: on a loaded machine, a burst of submits
    from the event loop then stalls the loop for seconds (measured: 8.9 s for 200 waits with
    200 local runs starting). Filling the pool up front, off the loop, moves that cost away.
    """
    pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix=prefix)
    threading.Thread(target=_fill, args=(pool, size), name=f"{prefix}-warmup", daemon=True).start()
    return pool


def _fill(pool: ThreadPoolExecutor, size: int) -> None:
    # each placeholder holds its thread until all are submitted, so every submit starts a new one
    release = threading.Event()
    try:
        for _ in range(size):
            pool.submit(release.wait, 10)
    finally:
        release.set()


def io_executor() -> ThreadPoolExecutor:
    """The process-wide pool for blocking SDK calls (``$FLOWYML_AIO_THREADS`` threads, default 32).

    Larger than asyncio's default pool on purpose: one loop may watch hundreds of remote runs
    whose status calls each block for a network round trip.
    """
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = _make_pool(int(os.environ.get("FLOWYML_AIO_THREADS", "32")), "flowyml-aio")
    return _pool


async def run_blocking(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``await`` a blocking call in the I/O pool, with this task's context variables."""
    return await run_in(None, fn, *args, **kwargs)


async def run_in(executor: Executor | None, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``await fn(*args, **kwargs)`` run in ``executor`` (default: the I/O pool), context copied."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await loop.run_in_executor(executor or io_executor(), call)


def to_async(fn: Callable[P, T], executor: Executor | None = None) -> Callable[P, Awaitable[T]]:
    """An ``async`` version of a sync callable: each call runs in ``executor`` (default: the I/O pool).

    Coroutine functions are returned unchanged.
    """
    if asyncio.iscoroutinefunction(fn):
        return fn

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return await run_in(executor, fn, *args, **kwargs)

    return wrapper


_step_pool: ThreadPoolExecutor | None = None
_submit_pool: ThreadPoolExecutor | None = None


def submit_executor() -> ThreadPoolExecutor:
    """A small pool for submits (``$FLOWYML_AIO_SUBMIT_THREADS``, default 4).

    A submit is mostly Python work (job spec, artifact writes, registry), so running hundreds at
    once only fights over the GIL and delays the event loop; a few threads submit just as fast.
    """
    global _submit_pool
    if _submit_pool is None:
        with _pool_lock:
            if _submit_pool is None:
                _submit_pool = _make_pool(int(os.environ.get("FLOWYML_AIO_SUBMIT_THREADS", "4")), "flowyml-aio-submit")
    return _submit_pool


def step_executor() -> ThreadPoolExecutor:
    """The process-wide pool that runs sync steps of async runs (``$FLOWYML_AIO_STEP_THREADS``).

    Separate from :func:`io_executor` so long CPU-bound steps never delay status polling.
    """
    global _step_pool
    if _step_pool is None:
        with _pool_lock:
            if _step_pool is None:
                default = min(32, (os.cpu_count() or 1) + 4)
                size = int(os.environ.get("FLOWYML_AIO_STEP_THREADS", str(default)))
                _step_pool = _make_pool(size, "flowyml-aio-step")
    return _step_pool
