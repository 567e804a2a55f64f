"""A step-runner interpreter, imported once per run, that the local supervisor forks each unit from.

A fresh ``python -m flowyml.runner`` per unit spends most of a trivial unit's time starting the
interpreter and importing flowyml. The supervisor instead starts ``python -m
flowyml.backends.local.zygote FD`` once per run (``FD``: its end of a socket pair). It imports the
step-runner and what a pipeline module needs, then serves requests: each carries a unit's argv,
environment and working directory, plus the write ends of its stdout/stderr pipes. For each, it
forks; the child becomes what ``python -m flowyml.runner ARGV`` would be — those pipes on fds 1/2,
``/dev/null`` on 0, exactly that environment and directory, the signal handling it inherited — and
runs the same ``flowyml.runner.main(argv)`` every backend runs, then exits as an interpreter does
(threads joined, ``atexit``, streams flushed). The pipeline module is imported in the child, per
unit, as before.

Replies are JSON lines: ``{"id": ..., "pid": ...}`` once a child started, ``{"pid": ..., "code": ...}``
when it ended (``-N`` for signal N, as :mod:`subprocess` reports it). The zygote exits when the
supervisor closes its end.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import sys
from dataclasses import dataclass
from typing import IO, Any, NoReturn

#: bytes of the length prefix of a request
HEADER = struct.Struct("!I")
#: what a request's ``argv`` is run by (the module every backend's command names)
RUNNER_MODULE = "flowyml.runner"


@dataclass
class Request:
    """One unit to start: its argv (after ``-m flowyml.runner``), environment, directory and output fds."""

    unit: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    stdout: int
    stderr: int


def drain_fd(fd: int) -> None:
    """Read a non-blocking signal wake-up pipe empty."""
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def encode(unit: str, argv: list[str], env: dict[str, str], cwd: str) -> bytes:
    body = json.dumps({"id": unit, "argv": argv, "env": env, "cwd": cwd}).encode()
    return HEADER.pack(len(body)) + body


def preload() -> None:
    """Import what every unit needs (the step-runner, the user API, the plugin manager, the file
    store), build the job spec's converter and the plugin manager: the same for every unit of the run."""
    import locale  # noqa: F401

    import flowyml.artifacts.files
    import flowyml.backends.local.plugin
    import flowyml.core.retry_policy
    import flowyml.plugins.manager
    import flowyml.runner
    from flowyml import Pipeline, context, step  # noqa: F401
    from flowyml.plugins.types import JobSpec, converter

    conv = converter()
    if hasattr(conv, "get_structure_hook"):
        conv.get_structure_hook(JobSpec)  # cattrs generates (compiles) the structuring code once
    flowyml.plugins.manager.get_plugin_manager()  # the built-in plugins (the zygote has the units' environment)


class Server:
    """The zygote's loop: fork a child per request, report its pid, then its exit code."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.fds: list[int] = []
        self.children: set[int] = set()
        self.previous_wakeup = -1
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def reply(self, doc: dict[str, Any]) -> None:
        self.sock.sendall(json.dumps(doc).encode() + b"\n")

    def serve(self) -> Request | None:
        """Run until the supervisor hangs up (None), or return, in a forked child, the request it runs."""
        signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a cancel signals the units; we report how they ended
        self.previous_wakeup = signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        self.reply({"ready": os.getpid()})
        while True:
            ready, _, _ = select.select([self.sock.fileno(), self.wake_r], [], [])
            if self.wake_r in ready:
                drain_fd(self.wake_r)
            self.reap()
            if self.sock.fileno() in ready:
                data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 2)
                self.fds += fds
                if not data:
                    return None
                self.buffer += data
            request = self.next_request()
            while request is not None:
                if self.start(request):
                    return request
                request = self.next_request()

    def next_request(self) -> Request | None:
        if len(self.buffer) < HEADER.size:
            return None
        (length,) = HEADER.unpack_from(self.buffer)
        if len(self.buffer) < HEADER.size + length or len(self.fds) < 2:
            return None
        doc = json.loads(self.buffer[HEADER.size : HEADER.size + length])
        self.buffer = self.buffer[HEADER.size + length :]
        (out_fd, err_fd), self.fds = self.fds[:2], self.fds[2:]
        return Request(doc["id"], list(doc["argv"]), dict(doc["env"]), doc["cwd"], out_fd, err_fd)

    def start(self, request: Request) -> bool:
        """Fork the unit: True in the child (which then runs it), False in the zygote."""
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self.become(request)
            return True
        os.close(request.stdout)
        os.close(request.stderr)
        self.children.add(pid)
        self.reply({"id": request.unit, "pid": pid})
        return False

    def become(self, request: Request) -> None:
        """In the child: the process state of ``python -m flowyml.runner ARGV`` started by the supervisor."""
        signal.set_wakeup_fd(self.previous_wakeup)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as after exec: the supervisor's handler is not inherited
        for fd in (self.wake_r, self.wake_w, *self.fds):
            os.close(fd)
        self.sock.close()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(request.stdout, 1)
        os.dup2(request.stderr, 2)
        os.close(request.stdout)
        os.close(request.stderr)
        os.chdir(request.cwd)
        os.environ.clear()
        os.environ.update(request.env)

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self.reply({"pid": pid, "code": os.waitstatus_to_exitcode(status)})


# -- the supervisor's side -------------------------------------------------------------------------
class ZygoteError(Exception):
    """The zygote is gone or did not answer: the supervisor starts units as fresh interpreters instead."""


class ForkedUnit:
    """A unit the zygote forked: the part of :class:`subprocess.Popen` the supervisor uses."""

    def __init__(self, zygote: Zygote, pid: int, stdout: IO[bytes], stderr: IO[bytes]) -> None:
        self.zygote, self.pid, self.stdout, self.stderr = zygote, pid, stdout, stderr
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.zygote.drain(0)
        return self.returncode

    def wait(self) -> int:
        while self.poll() is None:
            self.zygote.drain(0.5)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, signum: int) -> None:
        # Until the zygote reports the exit it has not reaped the child: the pid is still this process.
        if self.poll() is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Zygote:
    """The supervisor's handle on its zygote: start it, fork units from it, hear how they ended."""

    def __init__(self, python: str, env: dict[str, str], cwd: str) -> None:
        import subprocess

        ours, theirs = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                [python, "-m", "flowyml.backends.local.zygote", str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                pass_fds=[theirs.fileno()],
                env=env,
                cwd=cwd,
            )
        finally:
            theirs.close()
        self.sock = ours
        self.buffer = b""
        self.ready = False
        self.alive = True
        self.units: dict[int, ForkedUnit] = {}
        self.started: dict[str, int] = {}
        self.exits: dict[int, int] = {}  # exit codes read before their unit was registered

    def fileno(self) -> int:
        return self.sock.fileno()

    def drain(self, timeout: float | None) -> None:
        """Read what the zygote said, waiting up to ``timeout`` seconds for the first bytes."""
        while self.alive:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return
            timeout = 0
            data = self.sock.recv(1 << 16)
            if not data:
                self.lost()
                return
            self.buffer += data
            *lines, self.buffer = self.buffer.split(b"\n")
            for line in lines:
                self.handle(json.loads(line))

    def handle(self, doc: dict[str, Any]) -> None:
        if "ready" in doc:
            self.ready = True
        elif "code" in doc:
            unit = self.units.pop(doc["pid"], None)
            if unit is None:
                self.exits[doc["pid"]] = int(doc["code"])
            else:
                unit.returncode = int(doc["code"])
        elif "id" in doc:
            self.started[doc["id"]] = int(doc["pid"])

    def lost(self) -> None:
        """The zygote ended: units it forked that are still running are reported as killed."""
        self.alive = False
        self.sock.close()
        for unit in self.units.values():
            try:
                os.kill(unit.pid, signal.SIGKILL)  # an orphan now; no one could report its end
            except ProcessLookupError:
                pass
            unit.returncode = -signal.SIGKILL
        self.units.clear()

    def spawn(self, unit: str, argv: list[str], env: dict[str, str], cwd: str, timeout: float = 60.0) -> ForkedUnit:
        """Fork ``unit`` (argv after ``-m flowyml.runner``); its stdout/stderr are pipes we read."""
        import time

        deadline = time.monotonic() + timeout
        while self.alive and not self.ready and time.monotonic() < deadline:
            self.drain(0.05)  # the zygote is still importing
        if not self.ready or not self.alive:
            raise ZygoteError("the step-runner zygote is not running" if not self.alive else "zygote not ready")
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            socket.send_fds(self.sock, [encode(unit, argv, env, cwd)], [out_w, err_w])
        except OSError as exc:
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            self.lost()
            raise ZygoteError(f"cannot reach the step-runner zygote: {exc}") from exc
        os.close(out_w)
        os.close(err_w)
        stdout, stderr = open(out_r, "rb", buffering=0), open(err_r, "rb", buffering=0)  # noqa: SIM115
        while self.alive and unit not in self.started and time.monotonic() < deadline:
            self.drain(0.05)
        pid = self.started.pop(unit, None)
        if pid is None:
            stdout.close()
            stderr.close()
            raise ZygoteError(f"the step-runner zygote did not start unit {unit!r}")
        forked = ForkedUnit(self, pid, stdout, stderr)
        forked.returncode = self.exits.pop(pid, None)
        if forked.returncode is None:
            self.units[pid] = forked
        return forked

    def close(self) -> None:
        """Hang up (the zygote exits) and reap it."""
        if self.alive:
            self.alive = False
            self.sock.close()
        try:
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()
            self.proc.wait()


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[0]))
    preload()
    request = Server(sock).serve()
    if request is None:
        return 0
    run(request)


def run(request: Request) -> NoReturn:
    """In the forked child: the step-runner's ``main``, then the end of an interpreter."""
    import flowyml.runner

    sys.argv = [flowyml.runner.__file__ or RUNNER_MODULE, *request.argv]
    try:
        code = flowyml.runner.main(request.argv)
    except SystemExit as exc:
        code = exit_code(exc.code)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finish(code)


def exit_code(value: object) -> int:
    """What the interpreter exits with for ``SystemExit(value)`` (printing a message, as it does)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)
    return 1


def finish(code: int) -> NoReturn:
    """End as an interpreter does, except for tearing down its modules (the zygote's, not the unit's):
    non-daemon threads joined, ``atexit`` handlers run, streams flushed."""
    try:
        import threading

        shutdown = getattr(threading, "_shutdown", None)
        if shutdown is not None:
            shutdown()
        import atexit

        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code & 0xFF)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
