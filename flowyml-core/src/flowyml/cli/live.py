"""Following a submitted run: the live status line, what Ctrl-C says, and the per-step summary at the end."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flowyml.cli import history
from flowyml.core.status import ExecutionStatus


def status_line(report: Any, elapsed: float, width: int) -> str:
    """``[1m05s] RUNNING  2/3 units done  running: train`` cut to ``width - 1`` columns.

    One column is left free: a line that fills the last column makes many terminals wrap, and
    every ``\\r`` refresh would then add a line.
    """
    units: Mapping[str, Any] = report.units
    done = sum(1 for s in units.values() if s.is_finished)
    running = [u for u, s in units.items() if s is ExecutionStatus.RUNNING]
    parts = [f"[{history.duration(elapsed)}] {report.status.name}"]
    if units:
        parts.append(f"{done}/{len(units)} units done")
    if running:
        parts.append("running: " + ", ".join(running))
    return fit("  ".join(parts), width - 1)


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in ``...`` when cut."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: max(0, width - 3)] + "..." if width > 3 else text[:width]


def terminal_width() -> int:
    """The terminal's width now ($COLUMNS first, as shells set it; 80 if unknown)."""
    return shutil.get_terminal_size((80, 24)).columns


def follow_live(sub: Any, started: float) -> Any:
    """Redraw the status line in place until the run ends; return the final report."""
    from flowyml.plugins.polling import poll_until

    def show(report: Any) -> bool:
        line = status_line(report, time.monotonic() - started, terminal_width())
        sys.stdout.write(f"\r\x1b[K{line}")
        sys.stdout.flush()
        return bool(report.status.is_finished)

    try:
        final = poll_until(sub.report, show, poll_interval=0.5, initial=0.5, what="live status")
    finally:
        sys.stdout.write("\n")
        sys.stdout.flush()
    return final if final is not None else sub.report()


def detached_note(run_id: str, backend: str) -> str:
    """What Ctrl-C while following says: the run goes on, and how to get back to it."""
    return (
        f"stopped following; run {run_id} goes on ({backend}). "
        f"Re-attach with: flowyml logs -f {run_id}  (status: flowyml status {run_id}; stop it: flowyml cancel {run_id})"
    )


def step_summary(store: Any, run_id: str) -> list[tuple[str, str, float | None, str | None]]:
    """(step, status, seconds, error) for every step of a finished run, in DAG order, from its unit results.

    A step whose unit never wrote a result reads ``not run``.
    """
    from flowyml.orchestrators.layout import RunLayout, read_unit_results

    spec = store.read_json(RunLayout(run_id).spec)
    results = read_unit_results(store, run_id)
    rows: list[tuple[str, str, float | None, str | None]] = []
    for reused in spec.get("reused") or []:  # a resumed run: units an earlier run completed
        rows += [(name, "reused", None, None) for name in (reused.get("unit") or {}).get("steps") or []]
    for unit in spec.get("units") or []:
        result = results.get(unit["name"])
        for name in unit.get("steps") or []:
            record = result.step(name) if result else None
            if record is None:
                rows.append((name, "not run", None, None))
                continue
            rows.append((name, _step_status(record), record.duration_seconds, record.error))
    return rows


def _step_status(record: Any) -> str:
    if record.cached:
        return "cached"
    if record.skipped:
        return "skipped"
    return "ok" if record.success else "FAILED"


@contextmanager
def announce_steps(parallel: bool) -> Iterator[None]:
    """In-process runs: a ``[step] started`` line on stderr as each step starts; with steps running at
    once (``--max-workers``), each line a step prints labelled ``[step] `` too."""
    from flowyml.core import capture
    from flowyml.core.hooks import get_global_hooks

    hooks = get_global_hooks()
    labels: dict[str, capture.LineLabel] = {}

    def started(step: Any, inputs: Any) -> None:
        capture.label_lines(None)  # this thread's last step is done: its label must not mark this line
        sys.stderr.write(f"[{step.name}] started\n")
        sys.stderr.flush()
        if parallel:
            labels[step.name] = capture.LineLabel(f"[{step.name}] ")
            capture.label_lines(labels[step.name])

    def ended(step: Any, result: Any) -> None:
        label = labels.pop(step.name, None)
        if label is not None:
            label.flush()

    hooks.register_step_start_hook(started)
    hooks.register_step_end_hook(ended)
    try:
        yield
    finally:
        hooks.on_step_start.remove(started)
        hooks.on_step_end.remove(ended)
        capture.label_lines(None)
        for label in labels.values():
            label.flush()
