"""What a resume reuses and what it runs, in-process (fast): units of several steps, skipped steps,
outputs that could not be kept, and runs that cannot be recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowyml.core.context import Context
from flowyml.orchestrators.inprocess import resume_in_process, run_recorded
from flowyml.orchestrators.registry import RunRegistry
from tests.core import resume_pipelines as P

FILE = "tests/core/resume_pipelines.py"


def executions(home: Path) -> list[str]:
    path = home / "executions.log"
    runs = path.read_text().split() if path.exists() else []
    path.unlink(missing_ok=True)
    return runs


@pytest.fixture
def home(flowyml_home: Path) -> Path:
    flowyml_home.mkdir(parents=True, exist_ok=True)
    return flowyml_home


def test_a_unit_of_several_steps_runs_whole_and_its_upstream_is_reused(home):
    (home / "break-fit").touch()
    first = run_recorded(P.grouped, f"{FILE}:grouped", run_id="g-1")
    assert not first.success and executions(home) == ["load", "scale", "fit"]
    (home / "break-fit").unlink()
    again = resume_in_process("g-1", new_run_id="g-2")
    assert again.success and again["score"] == 1.2
    assert executions(home) == ["scale", "fit", "score"]  # scale succeeded, but its unit (fit) did not: it runs again
    assert RunRegistry().get("g-2").handle.units.keys() == {"fit", "score"}


def test_a_step_skipped_by_its_condition_is_reused_as_skipped(home):
    first = run_recorded(P.conditional, f"{FILE}:conditional", run_id="c-1")
    assert first.success and first.step_results["extra"].skipped and first.step_results["use_extra"].skipped
    assert sorted(executions(home)) == ["load", "report"]
    again = resume_in_process("c-1", from_step="report", new_run_id="c-2")
    assert again.success and executions(home) == ["report"]
    assert again.step_results["extra"].skipped and again.step_results["use_extra"].skipped
    assert again["raw"] == [1, 2, 3] and "extra" not in again.outputs


def test_an_output_that_cannot_be_kept_does_not_fail_the_run_and_its_step_runs_again(home, caplog):
    first = run_recorded(P.unkept, f"{FILE}:unkept", run_id="u-1")
    assert first.success and first["locked"] is False
    assert "output 'lock' of step open_lock is not kept" in caplog.text
    assert executions(home) == ["open_lock", "use_lock"]
    again = resume_in_process("u-1", from_step="use_lock", new_run_id="u-2")
    assert again.success and executions(home) == ["open_lock", "use_lock"]  # no lock to reuse: made again


def test_a_run_whose_context_cannot_be_recorded_still_runs(home, caplog):
    P.unkept.context = Context({"handle": object()})
    try:
        result = run_recorded(P.unkept, f"{FILE}:unkept", run_id="not-recorded")
    finally:
        P.unkept.context = Context({})
    assert result.success and not result.metadata.get("recorded")
    assert "not recorded and cannot be resumed" in caplog.text
    assert RunRegistry().find("not-recorded") is None
