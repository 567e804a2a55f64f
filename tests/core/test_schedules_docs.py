"""Every Python snippet of docs/schedules.md runs (in order, one namespace), against the local backend."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from flowyml.backends.local import schedules

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "schedules.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def test_every_snippet_runs(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)
    snippets = BLOCK.findall(DOC.read_text())
    assert len(snippets) >= 3
    namespace: dict = {"__name__": "docs_schedules"}
    try:
        for i, code in enumerate(snippets):
            try:
                exec(compile(code, f"{DOC.name}[snippet {i}]", "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"snippet {i} of {DOC.name} failed:\n{code}") from exc
        fire = namespace["info"].next_fire_time
        assert fire.hour == 3 and str(fire.tzinfo) == "Europe/Paris"
    finally:
        pid = schedules.scheduler_pid()
        if pid is not None and pid.is_alive():
            pid.kill_group(signal.SIGTERM)
