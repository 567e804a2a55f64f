"""What runs on the Ray cluster for one unit: a Ray task that starts the step-runner, and the log hub.

The task runs ``spec.unit_command(unit)`` with ``spec.unit_env(unit)`` as a subprocess — the same
step-runner every backend runs — relays its output lines to the :class:`LogHub` actor, and returns
where and when it ran. Imported only inside the Ray Job (it imports ``ray``).
"""

from __future__ import annotations

import ctypes
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import ray

#: lines a task sends to the hub in one call at most, and how often it sends at least
_BATCH, _FLUSH_SECONDS = 200, 0.2
_PR_SET_PDEATHSIG = 1


@ray.remote(num_cpus=0, max_restarts=0)
class LogHub:
    """Collects the units' output lines and state events, in arrival order, for the driver to drain (the
    first item says which node the hub runs on)."""

    def __init__(self) -> None:
        self._items: list[tuple[Any, ...]] = [("hub", ray.get_runtime_context().get_node_id())]

    def push(self, items: list[tuple[Any, ...]]) -> None:
        self._items.extend(items)

    def drain(self) -> list[tuple[Any, ...]]:
        items, self._items = self._items, []
        return items


def resolve_program(command: list[str]) -> list[str]:
    """``flowyml step-runner ...`` with ``flowyml`` found on PATH, else next to this interpreter."""
    program = command[0]
    if os.sep in program or shutil.which(program):
        return command
    sibling = Path(sys.executable).with_name(program)
    return [str(sibling), *command[1:]] if sibling.exists() else command


def _die_with_parent() -> None:
    """The step-runner gets SIGKILL when its Ray worker dies (a forced cancel kills the worker)."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the worker's own clean-up still terminates the child


def _stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@ray.remote
def run_unit(command: list[str], env: dict[str, str], unit: str, hub: Any, *upstream: dict[str, Any]) -> dict[str, Any]:
    """Run one unit; ``upstream`` are the results of the units it depends on (ObjectRefs resolved by Ray)."""
    blocked = [u["unit"] for u in upstream if u.get("state") != "SUCCEEDED"]
    if blocked:
        return {"unit": unit, "state": "CANCELLED", "error": f"not run: unit(s) {', '.join(blocked)} did not complete"}
    context = ray.get_runtime_context()
    started = time.time()
    where = {"node_id": context.get_node_id(), "worker_pid": os.getpid(), "started_at": started}
    hub.push.remote([("state", unit, {"state": "RUNNING", **where})])
    lines: queue.Queue[tuple[float, str] | None] = queue.Queue()
    proc = subprocess.Popen(
        resolve_program(command),
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put((time.time(), raw.decode("utf-8", errors="replace").rstrip("\r\n")))
        lines.put(None)

    reader = threading.Thread(target=read, name=f"flowyml-{unit}-output", daemon=True)
    reader.start()
    batch: list[tuple[Any, ...]] = []
    last_flush = time.monotonic()
    try:
        done = False
        while not done:
            try:
                item = lines.get(timeout=_FLUSH_SECONDS)
            except queue.Empty:
                pass
            else:
                if item is None:
                    done = True
                else:
                    batch.append(("log", unit, item[0], item[1]))
            if batch and (done or len(batch) >= _BATCH or time.monotonic() - last_flush >= _FLUSH_SECONDS):
                hub.push.remote(batch)
                batch, last_flush = [], time.monotonic()
        code = proc.wait()
    except BaseException:  # ray.cancel raises KeyboardInterrupt here: stop the step-runner with it
        _stop(proc)
        raise
    finished = time.time()
    ray.get(hub.push.remote(batch))  # every line is at the hub before the driver sees the result
    return {
        "unit": unit,
        "state": "SUCCEEDED" if code == 0 else "FAILED",
        "exit_code": code,
        "finished_at": finished,
        **where,
    }
