"""An egress guard for tests: any connection to a non-loopback address fails loudly and at once."""

from __future__ import annotations

__all__ = ["EgressBlockedError", "install", "uninstall"]

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}
_original: dict[str, Callable[..., Any]] = {}


class EgressBlockedError(ConnectionRefusedError):
    """A test tried to reach the network beyond 127.0.0.1."""


def _is_loopback(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]")
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guard(what: str, host: Any, port: Any = None) -> None:
    if not _is_loopback(host):
        raise EgressBlockedError(
            f"egress blocked: a test tried to reach {host}:{port} ({what}); tests must only talk to 127.0.0.1 "
            "— point the SDK at the local fake (endpoint URL / emulator host)"
        )


def install() -> None:
    """Patch socket connect and DNS resolution (idempotent)."""
    if _original:
        return
    _original["connect"] = socket.socket.connect
    _original["connect_ex"] = socket.socket.connect_ex
    _original["getaddrinfo"] = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _guard("connect", address[0], address[1])
        return _original["connect"](self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _guard("connect", address[0], address[1])
        return _original["connect_ex"](self, address)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        _guard("DNS lookup", host, port)
        return _original["getaddrinfo"](host, port, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo


def uninstall() -> None:
    if not _original:
        return
    socket.socket.connect = _original.pop("connect")  # type: ignore[method-assign]
    socket.socket.connect_ex = _original.pop("connect_ex")  # type: ignore[method-assign]
    socket.getaddrinfo = _original.pop("getaddrinfo")
