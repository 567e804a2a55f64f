"""In-process runs on the CLI (issue 15 item 6): a start line per step, and with steps running at once
(``--max-workers``) every line a step prints prefixed by its step, whole, never sharing a line."""

from __future__ import annotations

import io
import json
import subprocess
import threading
from pathlib import Path

from flowyml.core.capture import LineLabel, capture_output, label_lines
from tests.cli_process import run_cli

PIPELINE = """
import threading, time
from flowyml import Pipeline, step

both_started = threading.Barrier(2, timeout=30)

@step(outputs=["a"])
def left(parallel: bool = True):
    if parallel:  # both steps are running at once: this waits for the other to start
        both_started.wait()
    for i in range(5):
        print(f"left {i}", end="")  # a line written in two pieces, with the other step printing between
        time.sleep(0.02)
        print(" done")
    return 1

@step(outputs=["b"])
def right(parallel: bool = True):
    if parallel:
        both_started.wait()
    for i in range(5):
        print("right", i)
        time.sleep(0.015)
    print("right's last words", end="")
    return 2

@step(inputs=["a", "b"], outputs=["c"])
def join(a, b):
    print("joined", a + b)
    return a + b

pipeline = Pipeline("parallel-prints", enable_cache=False).add_step(left).add_step(right).add_step(join)
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "prints.py").write_text(PIPELINE)
    return run_cli("run", "prints.py", *args, cwd=tmp_path)


def test_parallel_steps_print_whole_lines_prefixed_by_step(tmp_path: Path):
    proc = run(tmp_path, "--max-workers", "2")
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout[: proc.stdout.index("pipeline parallel-prints")].splitlines()
    assert sorted(line for line in printed if line.startswith("[left] ")) == [f"[left] left {i} done" for i in range(5)]
    right = [line for line in printed if line.startswith("[right] ")]
    assert right == [f"[right] right {i}" for i in range(5)] + ["[right] right's last words"]  # flushed at its end
    assert printed[-1] == "[join] joined 3" and len(printed) == 12
    starts = proc.stderr.splitlines()
    assert sorted(starts[:2]) == ["[left] started", "[right] started"] and starts[2] == "[join] started"


def test_json_keeps_stdout_for_the_object_and_serial_steps_print_as_they_are(tmp_path: Path):
    as_json = run(tmp_path, "--max-workers", "2", "--json")
    assert json.loads(as_json.stdout)["success"] is True
    assert "[join] joined 3" in as_json.stderr.splitlines() and "[join] started" in as_json.stderr.splitlines()
    serial = run(tmp_path, "-p", "parallel=false")
    assert serial.returncode == 0, serial.stderr
    assert serial.stdout.startswith("left 0 done\nleft 1 done\n") and "\nright 0\n" in serial.stdout
    assert serial.stderr.splitlines()[:3] == ["[left] started", "[right] started", "[join] started"]


def test_a_label_writes_whole_lines_and_leaves_the_captured_logs_alone():
    stream = io.StringIO()
    label = LineLabel("[s] ")
    assert label.whole_lines(stream, "par") == ""
    assert label.whole_lines(stream, "tial\nnext\nop") == "[s] partial\n[s] next\n"
    label.flush()
    assert stream.getvalue() == "[s] op\n"

    seen: list[str] = []

    def step() -> None:
        label_lines(LineLabel("[t] "))
        with capture_output() as buf:
            print("hello from t")
        seen.append(buf.getvalue())
        label_lines(None)

    thread = threading.Thread(target=step)
    thread.start()
    thread.join()
    assert seen == ["hello from t\n"]  # the step's own logs: unlabelled
