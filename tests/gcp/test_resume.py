"""``resume_run`` on Vertex AI, end to end: the fake runs what each submission holds (its tasks'
container commands, against fake-gcs-server), so a resumed run that launched a reused unit would show."""

from __future__ import annotations

from pathlib import Path

from flowyml.core.status import ExecutionStatus as S
from tests.core import resume_pipelines as P
from tests.gcp.helpers import orchestrator

TARGET = "tests/core/resume_pipelines.py:pipeline"


def units_run(fake, since: int) -> list[str]:
    return [e.command[e.command.index("--unit") + 1] for e in fake.executions[since:]]


def test_a_resumed_vertex_run_launches_only_the_failed_unit_and_downstream(
    fake, config, store_settings, execute, flowyml_home: Path
) -> None:
    flowyml_home.mkdir(parents=True, exist_ok=True)
    (flowyml_home / "break-featurize").touch()
    orch = orchestrator(config, store_settings)
    first = orch.run_pipeline(P.pipeline, run_id="gcp-resume-1", pipeline_module=TARGET)
    execute(first.handle)
    report = orch.get_status_report(first.job_id)
    assert report.status is S.FAILED and report.units["load"] is S.COMPLETED and report.units["featurize"] is S.FAILED
    completed = {u for u, st in report.units.items() if st is S.COMPLETED}  # report too if the fake got to it
    assert "train" not in units_run(fake, 0)

    (flowyml_home / "break-featurize").unlink()
    before = len(fake.executions)
    again = orch.resume_run("gcp-resume-1", new_run_id="gcp-resume-2")
    rest = {"featurize", "train", "report"} - completed
    assert again.run_id == "gcp-resume-2" and set(again.handle.units) == rest
    execute(again.handle)
    assert sorted(units_run(fake, before)) == sorted(rest)  # what completed was not launched again
    assert again.wait_for_completion(timeout=10, poll_interval=0.05) is S.COMPLETED
    assert again.get_output("model") == 60 and again.get_output("raw") == [1, 2, 3]  # raw: gcp-resume-1's artifact
    assert again.get_output("report") == "3 rows"

    # --from a single step of the completed run: one unit, so a CustomJob rather than a pipeline
    before = len(fake.executions)
    third = orch.resume_run("gcp-resume-2", from_step="report", new_run_id="gcp-resume-3")
    execute(third.handle)
    assert units_run(fake, before) == ["report"]
    assert third.wait_for_completion(timeout=10, poll_interval=0.05) is S.COMPLETED
    named = {"raw": [1, 2, 3], "features": [10, 20, 30], "model": 60, "report": "3 rows"}
    by_step = {"load": [1, 2, 3], "featurize": [10, 20, 30], "train": 60}  # step values by the step's name
    assert third.outputs() == {**named, **by_step}
