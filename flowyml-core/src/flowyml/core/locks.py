"""Advisory file locks (``flock``): released by the kernel when the holder exits, even by SIGKILL."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["hold_lock", "is_locked", "locked"]


@contextlib.contextmanager
def locked(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``path`` (released when the holder exits, even by SIGKILL).

    With ``wait=False``, yields False at once if another holder has it.
    """
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def is_locked(path: Path) -> bool:
    """True while some process holds ``path``'s lock."""
    if not path.exists():
        return False
    with locked(path, wait=False) as got:
        return not got


def hold_lock(path: Path) -> int | None:
    """Take ``path``'s lock for the rest of this process's life: its fd, or None if another process holds it."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
