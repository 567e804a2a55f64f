"""Resuming a run: a new run that reuses what an earlier one completed and runs the rest.

The plan comes from the earlier run's job spec and unit results in the artifact store
(:class:`~flowyml.orchestrators.layout.RunLayout`): a unit whose result says it succeeded, and
whose outputs are still there, is *reused* — the new spec lists it in ``reused`` with the run that
holds its outputs, and backends never launch it; the step-runner reads its outputs from that run's
paths. Every other unit runs, and so does everything downstream of a unit that runs (and, with
``from_step``, the unit holding that step). The DAG is the earlier run's; the step code is
imported anew, so a fixed step runs fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from flowyml.core.errors import ConfigError, FlowymlError
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators.layout import RunLayout, UnitResult, read_unit_result, read_unit_results
from flowyml.orchestrators.spec import PIPELINE_INPUT
from flowyml.plugins.types import JobSpec, ReusedUnit, UnitSpec

if TYPE_CHECKING:
    from flowyml.orchestrators.remote import RemoteOrchestrator
    from flowyml.orchestrators.submission import SubmissionResult

__all__ = ["NothingToResumeError", "ResumePlan", "plan_for", "plan_resume", "resume_run"]


class NothingToResumeError(FlowymlError):
    """The run completed and no ``from_step`` was given: every unit would be reused."""


@attrs.define(frozen=True)
class ResumePlan:
    """What a resumed run does: the units it runs and the units it reuses (each with its run)."""

    spec: JobSpec
    source: JobSpec

    @property
    def run_units(self) -> list[str]:
        return [u.name for u in self.spec.units]

    @property
    def reused_units(self) -> list[str]:
        return [u.unit.name for u in self.spec.reused]

    def describe(self) -> str:
        """One line: ``reusing a, b from RUN; running c, d``."""
        reused = ", ".join(self.reused_units) or "nothing"
        return f"reusing {reused} from {self.source.run_id}; running {', '.join(self.run_units)}"


def _dependencies(unit: UnitSpec, owner: Mapping[str, str]) -> list[str]:
    """The units ``unit`` consumes outputs of (its data dependencies, complete even where a
    resumed spec narrowed ``depends_on`` to the units it runs)."""
    deps = list(unit.depends_on)
    for producer in unit.inputs.values():
        source = owner.get(producer) if producer != PIPELINE_INPUT else None
        if source is not None and source != unit.name and source not in deps:
            deps.append(source)
    return deps


def _outputs_present(store: Any, unit: UnitSpec, run_id: str, result: UnitResult | None) -> bool:
    """True if every output of the unit is in ``run_id``'s artifacts (a skipped step has none)."""
    layout = RunLayout(run_id)
    for name, step in unit.outputs.items():
        record = result.step(step) if result is not None else None
        if record is not None and record.skipped:
            continue
        if not store.exists(layout.output(step, name)):
            return False
    return True


def plan_resume(store: Any, source: JobSpec, new_run_id: str, from_step: str | None = None) -> ResumePlan:
    """The spec of a run that resumes ``source`` under ``new_run_id`` (nothing is written).

    Raises :class:`NothingToResumeError` when every unit would be reused, and ``ConfigError``
    for a ``from_step`` the run does not have.
    """
    units: list[tuple[UnitSpec, str]] = [(r.unit, r.run_id) for r in source.reused]
    units += [(u, source.run_id) for u in source.units]
    owner = {step: u.name for u, _ in units for step in u.steps}
    from_unit = None
    if from_step is not None:
        if from_step not in owner:
            steps = ", ".join(s for u, _ in units for s in u.steps)
            raise ConfigError(f"run {source.run_id!r} has no step {from_step!r} to resume from; its steps: {steps}")
        from_unit = owner[from_step]
    results = read_unit_results(store, source.run_id)
    rerun: set[str] = set()
    deps_of: dict[str, list[str]] = {}
    for unit, run_id in units:  # dependency order: reused units come first, each list is in order
        deps = deps_of[unit.name] = _dependencies(unit, owner)
        result = results.get(unit.name) if run_id == source.run_id else read_unit_result(store, run_id, unit.name)
        done = result is not None and result.success and _outputs_present(store, unit, run_id, result)
        if not done or unit.name == from_unit or rerun.intersection(deps):
            rerun.add(unit.name)
    if not rerun:
        raise NothingToResumeError(
            f"run {source.run_id!r} completed: every unit would be reused; pass from_step (--from STEP) "
            "to run a step and everything downstream of it again"
        )
    reused = [
        ReusedUnit(attrs.evolve(u, depends_on=deps_of[u.name]), run_id) for u, run_id in units if u.name not in rerun
    ]
    to_run = [
        attrs.evolve(u, depends_on=[d for d in deps_of[u.name] if d in rerun]) for u, _ in units if u.name in rerun
    ]
    spec = attrs.evolve(
        source,
        run_id=new_run_id,
        units=to_run,
        reused=reused,
        resumed_from=source.run_id,
        inputs_from=source.inputs_from or (source.run_id if source.input_names else None),
        labels={**source.labels, "flowyml-run-id": new_run_id},
    )
    return ResumePlan(spec=spec, source=source)


def check_resumable(run_id: str, status: ExecutionStatus, new_run_id: str | None) -> None:
    """Refuse a run that has not ended, and a new run id equal to the old one."""
    if not status.is_finished:
        raise FlowymlError(
            f"run {run_id!r} is {status.name}: wait for it to end (or `flowyml cancel {run_id}`), then resume it"
        )
    if new_run_id == run_id:
        raise ConfigError(f"--run-id {new_run_id!r}: a resumed run is a new run and needs a run id of its own")


def source_spec(store: Any, run_id: str) -> JobSpec:
    """The job spec an earlier run wrote (``runs/<id>/job.json``), or a clear error."""
    from flowyml.core.errors import ArtifactNotFoundError

    try:
        return JobSpec.from_dict(store.read_json(RunLayout(run_id).spec))
    except ArtifactNotFoundError:
        raise FlowymlError(
            f"run {run_id!r} cannot be resumed: its job spec is not in the artifact store "
            f"({store.uri}/{RunLayout(run_id).spec}); it was never submitted, or its artifacts were deleted"
        ) from None


def plan_for(
    orchestrator: RemoteOrchestrator, run_id: str, from_step: str | None = None, new_run_id: str | None = None
) -> ResumePlan:
    """The plan to resume registry run ``run_id`` on ``orchestrator``'s backend (checked, nothing written)."""
    from flowyml.core.names import check_name
    from flowyml.core.pipeline import new_run_id as generate_run_id

    handle = orchestrator.registry.get(run_id).handle
    if handle.backend != orchestrator.backend_name:
        raise ConfigError(
            f"run {handle.run_id!r} ran on {handle.backend}, not {orchestrator.backend_name}: resume it with "
            f"`flowyml resume {handle.run_id}` (which uses the run's own backend)"
        )
    if new_run_id is not None:
        check_name(new_run_id, "run id")
    check_resumable(handle.run_id, orchestrator.get_status_report(handle).status, new_run_id)
    store = orchestrator._run_store(handle)
    source = source_spec(store, handle.run_id)
    return plan_resume(store, source, new_run_id or generate_run_id(source.pipeline_name), from_step)


def resume_run(
    orchestrator: RemoteOrchestrator, run_id: str, from_step: str | None = None, new_run_id: str | None = None
) -> SubmissionResult:
    """Submit the resume of ``run_id`` (see :func:`plan_for`) through the usual submit path."""
    plan = plan_for(orchestrator, run_id, from_step, new_run_id)
    return orchestrator.submit_spec(plan.spec)
