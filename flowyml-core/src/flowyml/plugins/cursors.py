"""Log cursors: opaque strings to users, a small JSON document to the backend that made them."""

from __future__ import annotations

__all__ = ["CursorError", "encode_cursor", "decode_cursor"]

import json
from typing import Any

from flowyml.core.errors import FlowymlError


class CursorError(FlowymlError, ValueError):
    """A log cursor that this backend did not make (or that was damaged)."""


def encode_cursor(position: dict[str, Any]) -> str:
    """A compact, stable string for ``position`` (per-source offsets or tokens)."""
    return json.dumps(position, sort_keys=True, separators=(",", ":"))


def decode_cursor(cursor: str | None, backend: str) -> dict[str, Any]:
    """The position a cursor encodes (``{}`` for ``None``: the start)."""
    if not cursor:
        return {}
    try:
        position = json.loads(cursor)
    except ValueError:
        position = None
    if not isinstance(position, dict):
        raise CursorError(f"not a {backend} log cursor: {cursor[:80]!r}; pass a cursor from this run's log records")
    return position
