"""``ClientCache``: SDK clients built once per key and shared by threads (one lock, one place)."""

from __future__ import annotations

__all__ = ["ClientCache"]

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class ClientCache(Generic[T]):
    """A thread-safe cache of SDK clients keyed by their settings (region, endpoint, profile ...).

    Building a client is slow (credential chains, service models); building two for the same key
    in racing threads is harmless but wasteful, so the factory runs under the lock.
    """

    def __init__(self) -> None:
        self._clients: dict[Hashable, T] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, factory: Callable[[], T]) -> T:
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = factory()
            return client

    def clear(self) -> None:
        """Forget every client (tests; after credentials change)."""
        with self._lock:
            self._clients.clear()
