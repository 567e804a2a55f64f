"""Following a run on a terminal (issue 15 item 6): the live status line shows the elapsed time and fits
the terminal (no refresh adds a line on 60 columns), Ctrl-C leaves the run going and says how to re-attach,
and a finished remote run ends with a per-step summary. The CLI runs on a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowyml.cli.live import fit, status_line
from flowyml.core.status import ExecutionStatus
from flowyml.plugins.types import StatusReport

ROOT = Path(__file__).parent.parent.parent
TARGET = "tests/core/history_pipelines.py"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def on_terminal(
    args: list[str], columns: int, env: dict[str, str], interrupt_after: str | None = None
) -> tuple[int, str]:
    """Run the CLI on a pty ``columns`` wide; with ``interrupt_after``, type Ctrl-C once that text showed."""
    pid, master = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal, as in a shell
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "flowyml.cli.main", *args], env)
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    output = b""
    deadline = time.monotonic() + 300  # generous for a loaded machine: each read ends as soon as output comes
    interrupted = False
    while True:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)  # it never ended: fail with -9 rather than hang in waitpid
            break
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        if interrupt_after and not interrupted and interrupt_after in output.decode(errors="replace"):
            os.write(master, b"\x03")  # Ctrl-C, as typed: the terminal sends SIGINT to its foreground group
            interrupted = True
    _, status = os.waitpid(pid, 0)
    os.close(master)
    return os.waitstatus_to_exitcode(status), output.decode(errors="replace")


def refreshes(output: str) -> list[str]:
    """The status line as each redraw left it (the text after each ``\\r ESC[K``)."""
    return [ANSI.sub("", part.split("\r")[0].split("\n")[0]) for part in output.split("\r\x1b[K")[1:]]


def rows_used(output: str, columns: int) -> int:
    """The terminal rows the output takes, wrapping at ``columns`` as a terminal does."""
    rows, col = 1, 0
    for char in ANSI.sub("", output):
        if char == "\r":
            col = 0
        elif char == "\n":
            rows, col = rows + 1, 0
        else:
            col += 1
            if col > columns:
                rows, col = rows + 1, 1
    return rows


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return {**env, "TERM": "xterm", **extra}


def test_live_status_line_fits_60_columns_and_shows_elapsed_time():
    code, output = on_terminal(["run", f"{TARGET}:slow", "--stack", "local"], 60, child_env())
    assert code == 0, output
    lines = refreshes(output)
    assert len(lines) >= 3, output  # redrawn while the 2 s step ran
    for line in lines:
        assert len(line) <= 59, line  # one column free: no terminal wraps it
        assert re.match(r"\[\d+\.\d+s\] [A-Z]+", line), line
    assert any(line.endswith("...") for line in lines), lines  # the long unit name was cut, not wrapped
    elapsed = [float(re.match(r"\[(\d+\.\d+)s\]", line)[1]) for line in lines]
    assert elapsed == sorted(elapsed) and elapsed[-1] > elapsed[0]
    live = output[output.index("\r\x1b[K") : output.index("pipeline hist-slow")]
    assert rows_used(live, 60) == 2, repr(live)  # every redraw on one row, then the line break after it
    summary = output[output.index("pipeline hist-slow") :].splitlines()
    assert re.match(r"pipeline hist-slow COMPLETED in \d+\.\d+s  \(run hist-slow-", summary[0])
    assert summary[1].split()[:2] == ["a_rather_long_step_name_that_a_live_status_line_must_cut", "ok"]
    assert re.fullmatch(r"2\.\d\ds", summary[1].split()[2])  # the step's own 2 s, from its unit result


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    """The file a ``slow`` run given ``-p gate=PATH`` waits for; created when the test ends at the latest."""
    path = tmp_path / "gate"
    yield path
    path.touch()


def status_of(run_id: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "flowyml.cli.main", "status", run_id, "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    return str(json.loads(proc.stdout)["status"])


def wait_finished(run_id: str, timeout: float = 300) -> str:
    """The run's status once it is no longer RUNNING or PENDING: as soon as it is, or when ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    status = status_of(run_id)
    while status in ("RUNNING", "PENDING") and time.monotonic() < deadline:
        time.sleep(0.3)
        status = status_of(run_id)
    return status


def test_ctrl_c_while_following_leaves_the_run_going_and_says_how_to_reattach(gate: Path):
    # the run's step waits for the gate, opened only after the interrupt: the run cannot end before Ctrl-C lands
    code, output = on_terminal(
        ["run", f"{TARGET}:slow", "-p", f"gate={gate}", "--stack", "local"],
        60,
        child_env(COLUMNS="60"),
        interrupt_after="RUNNING",
    )
    assert code == 130, output
    text = ANSI.sub("", output).replace("\r", "")
    run_id = re.search(r"run (hist-slow-[\w-]+) goes on \(local\)", text)[1]
    assert f"Re-attach with: flowyml logs -f {run_id}" in text and f"flowyml cancel {run_id}" in text
    assert "Traceback" not in text
    assert status_of(run_id) == "RUNNING"  # the interrupt stopped the follower, not the run
    gate.touch()
    assert wait_finished(run_id) == "COMPLETED"  # nobody follows it any more, and it still completes


def test_ctrl_c_while_following_logs_says_the_same(gate: Path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowyml.cli.main", "run", f"{TARGET}:slow", "-p", f"gate={gate}", "--detach"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    run_id = proc.communicate(timeout=300)[0].strip()
    follow = subprocess.Popen(
        [sys.executable, "-m", "flowyml.cli.main", "logs", "-f", run_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert follow.stdout is not None and follow.stdout.readline()  # following: its first record came
        follow.send_signal(signal.SIGINT)  # the run waits for the gate: the follower is still following
        _, stderr = follow.communicate(timeout=300)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    assert follow.returncode == 130 and f"run {run_id} goes on (local)" in stderr, stderr
    gate.touch()
    assert wait_finished(run_id) == "COMPLETED"


def test_status_line_pieces():
    report = StatusReport(
        ExecutionStatus.RUNNING,
        units={"load": ExecutionStatus.COMPLETED, "train": ExecutionStatus.RUNNING, "eval": ExecutionStatus.PENDING},
    )
    assert status_line(report, 65.0, 80) == "[1m05s] RUNNING  1/3 units done  running: train"
    assert status_line(report, 65.0, 20) == "[1m05s] RUNNING ..."
    assert len(status_line(report, 65.0, 20)) == 19
    assert status_line(StatusReport(ExecutionStatus.PENDING), 0.5, 80) == "[0.50s] PENDING"
    assert fit("abcdef", 6) == "abcdef" and fit("abcdefg", 6) == "abc..." and fit("abc", 0) == ""
