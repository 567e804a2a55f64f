"""The detached process that runs one local run: each unit through the step-runner, in DAG order.

Started by ``submit`` in its own session (so it survives the submitting process and can be
stopped as one process group). It alone writes ``state.json``; each unit's stdout/stderr become
timestamped JSON lines in ``logs/<unit>.jsonl``.

Units are forked from a step-runner interpreter started once per run (:mod:`.zygote`), which
runs the same ``flowyml.runner.main`` as ``python -m flowyml.runner`` would, without starting an
interpreter and importing flowyml per unit; ``FLOWYML_LOCAL_FORK_UNITS=0`` (or a zygote that
cannot start) gives each unit a fresh interpreter instead. The loop sleeps until a unit ends
(the zygote reports it), a signal arrives, or a fresh interpreter's poll interval passes.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from flowyml.backends.local.paths import SUPERVISOR_LOCK, read_json, write_json, write_own_pid
from flowyml.backends.local.zygote import ForkedUnit, Zygote, ZygoteError, drain_fd
from flowyml.core.locks import hold_lock
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators.configs import stored_config
from flowyml.plugins.logs import parse_runner_line
from flowyml.plugins.types import JobSpec

#: how often units started as fresh interpreters are checked for their exit
POLL = 0.02
#: the longest the loop sleeps when only forked units run (their ends wake it at once)
IDLE = 1.0
#: ``0`` starts every unit as a fresh ``python -m flowyml.runner`` instead of forking it
FORK_ENV = "FLOWYML_LOCAL_FORK_UNITS"
S = ExecutionStatus
Unit = subprocess.Popen[bytes] | ForkedUnit


class _LogPump(threading.Thread):
    """Copies one child stream into the unit's JSON-lines log, one record per line."""

    def __init__(self, stream: IO[bytes], sink: IO[str], lock: threading.Lock, unit: str, severity: str) -> None:
        super().__init__(daemon=True, name=f"flowyml-log-{unit}")
        self.stream, self.sink, self.lock, self.unit, self.severity = stream, sink, lock, unit, severity

    def run(self) -> None:
        for raw in iter(self.stream.readline, b""):
            line = parse_runner_line(raw.decode(errors="replace"), time.time(), self.severity)
            record = {"t": line.ts, "s": line.severity, "u": self.unit, "m": line.message}
            with self.lock:
                self.sink.write(json.dumps(record) + "\n")
                self.sink.flush()


class Supervisor:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.spec = JobSpec.from_json((directory / "job.json").read_text())
        config = stored_config(read_json(directory / "config.json") or {})  # our env is the submitter's
        self.max_parallel = int(config.get("max_parallel") or os.cpu_count() or 1)
        self.grace = float(config.get("grace_period", 10.0))
        self.python = config.get("python") or sys.executable
        self.units = {u.name: S.PENDING for u in self.spec.units}
        self.exit_codes: dict[str, int] = {}
        self.running: dict[str, tuple[Unit, list[_LogPump], IO[str]]] = {}
        self.zygote: Zygote | None = None
        self.wake_fd: int | None = None  # read end of the signal wake-up pipe (set by main)
        self.stop_signal = False
        self.started = time.time()
        self.message: str | None = None

    def write_state(self, status: ExecutionStatus, finished: bool = False) -> None:
        """Record the run's state; only the final one is fsynced (a lost intermediate one is re-read
        from the processes by ``status``)."""
        doc: dict[str, Any] = {
            "status": status.value,
            "units": {k: v.value for k, v in self.units.items()},
            "exit_codes": self.exit_codes,
            "started_at": self.started,
            "pid": os.getpid(),
            "message": self.message,
        }
        if finished:
            self.close()  # the zygote's CPU time (and its units') counts once it is reaped
            doc["finished_at"] = time.time()
            doc["cpu_seconds"] = round(_cpu_seconds(), 3)
        write_json(self.dir / "state.json", doc, durable=finished)

    def command(self, unit: str) -> list[str]:
        argv = self.spec.unit_command(unit)[len(self.spec.runner_command) :]
        return [self.python, "-m", "flowyml.runner", *argv]

    def start_zygote(self) -> None:
        """Start the run's zygote (it imports while the supervisor gets going), unless turned off."""
        if os.environ.get(FORK_ENV, "1") == "0" or not hasattr(os, "fork") or not self.spec.units:
            return
        env = {**os.environ, **self.spec.unit_env(self.spec.units[0].name)}
        try:
            self.zygote = Zygote(self.python, env, os.getcwd())
        except OSError as exc:
            print(f"flowyml: units start as fresh interpreters: {exc}", file=sys.stderr, flush=True)

    def start(self, unit: str) -> None:
        env = {**os.environ, **self.spec.unit_env(unit)}
        proc: Unit | None = None
        if self.zygote is not None:
            argv = self.command(unit)[3:]  # after: python -m flowyml.runner
            try:
                proc = self.zygote.spawn(unit, argv, env, os.getcwd())
            except ZygoteError as exc:
                print(f"flowyml: {exc}; units start as fresh interpreters from now on", file=sys.stderr, flush=True)
                self.zygote.close()
                self.zygote = None
        if proc is None:
            proc = subprocess.Popen(
                self.command(unit), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
            )
        sink = open(self.dir / "logs" / f"{unit}.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        lock = threading.Lock()
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [_LogPump(proc.stdout, sink, lock, unit, "INFO"), _LogPump(proc.stderr, sink, lock, unit, "ERROR")]
        for p in pumps:
            p.start()
        self.running[unit] = (proc, pumps, sink)
        self.units[unit] = S.RUNNING

    def reap(self) -> bool:
        changed = False
        for unit, (proc, pumps, sink) in list(self.running.items()):
            code = proc.poll()
            if code is None:
                continue
            for p in pumps:
                p.join(timeout=5)
            sink.close()
            del self.running[unit]
            self.exit_codes[unit] = code
            self.units[unit] = S.COMPLETED if code == 0 else S.FAILED
            if code != 0 and not self.stop_signal:
                self.message = self.message or self.unit_error(unit, code)
            changed = True
        return changed

    def unit_error(self, unit: str, code: int) -> str:
        """The unit's recorded error, else how its process ended (exit code or signal)."""
        from flowyml.artifacts.store import ArtifactStore
        from flowyml.orchestrators.layout import read_unit_result

        store = ArtifactStore(self.spec.artifact_root, self.spec.resolved_store_settings())
        result = read_unit_result(store, self.spec.run_id, unit)
        if result is not None and result.error:
            return f"unit {unit!r}: {result.error}"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"unit {unit!r} was killed by {name} before it recorded a result"
        return f"unit {unit!r} exited with code {code} before it recorded a result"

    def blocked(self, unit: str) -> bool:
        deps = self.spec.unit(unit).depends_on
        return any(self.units[d] in (S.FAILED, S.CANCELLED) for d in deps)

    def ready(self, unit: str) -> bool:
        return all(self.units[d] is S.COMPLETED for d in self.spec.unit(unit).depends_on)

    def terminate_all(self) -> None:
        for proc, _, _ in self.running.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.time() + self.grace
        while time.time() < deadline and any(p.poll() is None for p, _, _ in self.running.values()):
            time.sleep(POLL)
        for proc, _, _ in self.running.values():
            if proc.poll() is None:
                proc.kill()
        for proc, _, _ in self.running.values():
            proc.wait()

    def run(self) -> ExecutionStatus:
        self.write_state(S.RUNNING)
        deadline = None if self.spec.timeout_seconds is None else self.started + self.spec.timeout_seconds
        while True:
            if self.stop_signal or (deadline is not None and time.time() > deadline):
                timed_out = not self.stop_signal
                self.stop_signal = True
                self.terminate_all()
                self.reap()
                for u, st in self.units.items():
                    if not st.is_finished or (st is S.FAILED and u in self.exit_codes and self.exit_codes[u] < 0):
                        self.units[u] = S.CANCELLED
                final = S.TIMED_OUT if timed_out else S.CANCELLED
                self.message = f"timed out after {self.spec.timeout_seconds}s" if timed_out else "cancelled"
                self.write_state(final, finished=True)
                return final
            changed = self.reap()
            for unit, st in self.units.items():
                if st is S.PENDING and self.blocked(unit):
                    self.units[unit] = S.CANCELLED
                    changed = True
            for unit, st in self.units.items():
                if st is S.PENDING and len(self.running) < self.max_parallel and self.ready(unit):
                    self.start(unit)
                    changed = True
            if not self.running and all(st.is_finished for st in self.units.values()):
                final = S.COMPLETED if all(st is S.COMPLETED for st in self.units.values()) else S.FAILED
                self.write_state(final, finished=True)
                return final
            if changed:
                self.write_state(S.RUNNING)
            self.sleep(deadline)

    def sleep(self, deadline: float | None) -> None:
        """Wait until a forked unit ends, a signal arrives, a fresh interpreter's poll is due, or the deadline."""
        fresh = any(not isinstance(proc, ForkedUnit) for proc, _, _ in self.running.values())
        timeout = POLL if fresh or self.wake_fd is None else IDLE
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline - time.time()))
        fds = [] if self.wake_fd is None else [self.wake_fd]
        if self.zygote is not None and self.zygote.alive and self.running:
            fds.append(self.zygote.fileno())
        if not fds:
            time.sleep(timeout)
            return
        ready, _, _ = select.select(fds, [], [], timeout)
        if self.wake_fd is not None and self.wake_fd in ready:
            drain_fd(self.wake_fd)

    def close(self) -> None:
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None


def _cpu_seconds() -> float:
    """CPU time of this supervisor and every process it reaped (the zygote, its units, fresh units)."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str]) -> int:
    directory = Path(argv[0])
    if argv[1:2] == ["--lock-fd"]:
        os.set_inheritable(int(argv[2]), False)  # the run's lock, taken by the submit: ours until we exit
    elif hold_lock(directory / SUPERVISOR_LOCK) is None:
        return 0  # another supervisor runs this run: leave it alone
    state = read_json(directory / "state.json")
    if state and S(state["status"]).is_finished:
        return 0
    write_own_pid(directory)
    supervisor = Supervisor(directory)
    if (directory / "cancel.json").exists():  # cancelled before we started
        supervisor.units = {u: S.CANCELLED for u in supervisor.units}
        supervisor.message = "cancelled before it started"
        supervisor.write_state(S.CANCELLED, finished=True)
        return 1

    def on_term(_signum: int, _frame: object) -> None:
        supervisor.stop_signal = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the submitting terminal must not kill the run
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)  # a SIGTERM ends the loop's wait at once
    supervisor.wake_fd = wake_r
    supervisor.start_zygote()
    try:
        final = supervisor.run()
    finally:
        supervisor.close()
    return 0 if final is S.COMPLETED else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
