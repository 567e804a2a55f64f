"""Pipelines the zygote tests submit (imported by the step-runner, forked or fresh)."""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import threading
import time

from flowyml import Pipeline, context, step


def _open_fds() -> list[int]:
    if sys.platform != "linux":
        return []
    return sorted(int(fd) for fd in os.listdir("/proc/self/fd") if int(fd) > 2)


def _mark(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


@step(outputs=["facts"])
def probe(report: str = "") -> dict:
    """Record what the unit's process looks like, and leave an atexit handler and a late thread behind."""
    facts = {
        "main": sys.modules["__main__"].__spec__.name,  # the one difference: what `python -m` ran
        "unit": os.environ.get("FLOWYML_UNIT"),
        "run_id_env": os.environ.get("FLOWYML_RUN_ID"),
        "unbuffered": os.environ.get("PYTHONUNBUFFERED"),
        "cwd": os.getcwd(),
        "argv": sys.argv[1:],
        "argv0": os.path.basename(sys.argv[0]),
        "sigterm_default": signal.getsignal(signal.SIGTERM) is signal.SIG_DFL,
        "sigchld_default": signal.getsignal(signal.SIGCHLD) is signal.SIG_DFL,
        "stdin_empty": os.read(0, 1) == b"",
        "wakeup_fd": signal.set_wakeup_fd(-1),
        "open_fds": _open_fds(),
        "path0": sys.path[0],
    }
    with open(report, "w", encoding="utf-8") as fh:
        json.dump(facts, fh)

    def late() -> None:
        time.sleep(0.3)
        _mark(report + ".thread", "joined")

    threading.Thread(target=late).start()  # not a daemon: the interpreter's exit waits for it
    atexit.register(_mark, report + ".atexit", "ran")
    print("probe says hello")
    print("probe warns", file=sys.stderr)
    return facts


@step(inputs=["facts"], outputs=["done"])
def after(facts: dict) -> bool:
    return bool(facts)


probing = Pipeline("zygote-probe", context=context(report=""), enable_cache=False)
probing.add_step(probe).add_step(after)


@step(outputs=["never"])
def kill_self() -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return 0


killing = Pipeline("zygote-kill", enable_cache=False)
killing.add_step(kill_self)


@step(outputs=["never"])
def exits_hard(code: int = 7) -> int:
    sys.stdout.flush()
    os._exit(code)


exiting = Pipeline("zygote-exit", context=context(code=7), enable_cache=False)
exiting.add_step(exits_hard)
