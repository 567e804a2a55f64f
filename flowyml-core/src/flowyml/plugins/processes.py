"""Detached processes for process-based backends: spawn, and tell whether one still lives.

A pid alone is not an identity — pids are reused — so a process is recorded as ``(pid, start
time)`` (the kernel's start time from ``/proc``) and is alive only while both match.
"""

from __future__ import annotations

__all__ = ["ProcessId", "process_start_time", "is_alive", "spawn_detached"]

import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs


@attrs.define(frozen=True)
class ProcessId:
    """A process as recorded on disk: its pid and its start time (None where /proc is absent)."""

    pid: int
    start_time: str | None = None

    def to_text(self) -> str:
        return f"{self.pid} {self.start_time or '-'}"

    @classmethod
    def from_text(cls, text: str) -> ProcessId:
        parts = text.split()
        return cls(int(parts[0]), parts[1] if len(parts) > 1 and parts[1] != "-" else None)

    def is_alive(self) -> bool:
        return is_alive(self.pid, self.start_time)

    def kill_group(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Signal the process group the process leads — also after the leader died, so its
        children go too (a no-op once the whole group is gone)."""
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass  # ended meanwhile


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (guards against pid reuse), or None where /proc is absent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def is_alive(pid: int, start_time: str | None) -> bool:
    """True if ``pid`` runs and is the same process (not a zombie, not a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): kill(0) is all we have
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return False
    return start_time is None or fields[19] == start_time


def spawn_detached(
    argv: Sequence[str],
    *,
    log_path: Path,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    pass_fds: Sequence[int] = (),
) -> ProcessId:
    """Start ``argv`` in its own session (it outlives us; one process group to signal), output to ``log_path``.

    ``pass_fds`` stay open in the child (e.g. a lock it takes over from birth). The child is
    reaped by a daemon thread while this process lives, so it never lingers as a zombie.
    """
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=None if env is None else dict(env),
            start_new_session=True,
            close_fds=True,
            pass_fds=tuple(pass_fds),
        )
    threading.Thread(target=proc.wait, name="flowyml-reaper", daemon=True).start()
    return ProcessId(proc.pid, process_start_time(proc.pid))
