"""Runs executed in this process, recorded like submitted ones (``flowyml run FILE``, ``flowyml resume``).

The run gets a job spec (written create-only under the run-id rules) and a row in the run registry
through the usual submit path, on the ``inprocess`` backend; its steps run here with the step
outputs materialized under the run layout; when it ends each unit's result and the run's outcome
are written, so ``flowyml runs``/``status`` show it and ``flowyml resume`` can reuse what it did.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from flowyml.backends.inprocess import NAME, executing_here
from flowyml.core.errors import FlowymlError
from flowyml.core.executor import ExecutionResult
from flowyml.core.status import ExecutionStatus
from flowyml.orchestrators.layout import RunLayout, StepRecord, UnitResult, read_unit_result
from flowyml.plugins.types import JobSpec

if TYPE_CHECKING:
    from flowyml.core.pipeline import Pipeline
    from flowyml.core.result import PipelineResult
    from flowyml.orchestrators.remote import RemoteOrchestrator

__all__ = ["resume_in_process", "run_recorded"]

log = logging.getLogger("flowyml.run")

#: A unit's exit code in its result when the run was interrupted in it (as a shell reports SIGINT).
INTERRUPTED = 130


def orchestrator(artifact_root: str | None = None, registry: Any = None) -> RemoteOrchestrator:
    """The orchestrator that records in-process runs (default artifact store: ``$FLOWYML_HOME/artifacts``)."""
    from flowyml.orchestrators.remote import RemoteOrchestrator

    return RemoteOrchestrator(backend=NAME, artifact_store=artifact_root, registry=registry)


def run_recorded(
    pipeline: Pipeline,
    pipeline_module: str,
    *,
    run_id: str | None = None,
    context: Mapping[str, Any] | None = None,
    max_workers: int = 1,
    cache_store: Any = None,
    registry: Any = None,
) -> PipelineResult:
    """Run ``pipeline`` here, recorded in the run registry and resumable (``pipeline_module`` as for a stack)."""
    from flowyml.core.names import check_name
    from flowyml.core.pipeline import new_run_id
    from flowyml.orchestrators.spec import build_job_spec

    orch = orchestrator(registry=registry)
    run_id = check_name(run_id, "run id") if run_id is not None else new_run_id(pipeline.name)
    try:
        spec = build_job_spec(
            pipeline, run_id, orch.artifact_root, context=context, pipeline_module=pipeline_module, stack=None
        )
    except FlowymlError as exc:  # e.g. a context value that is not JSON: run as before, unrecorded
        log.warning("run %s is not recorded and cannot be resumed: %s", run_id, exc)
        return pipeline.run(run_id=run_id, context=context, max_workers=max_workers, cache_store=cache_store)
    return execute(orch, pipeline, spec, max_workers=max_workers, cache_store=cache_store)


class _KeepingStore:
    """The run's artifact store for in-process steps: an output that cannot be saved (an open file,
    a lock) is logged, not a failed step — the run goes on, and a resume runs that step again."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def materialize(self, obj: Any, name: str, run_id: str, step_name: str, project_name: str = "default") -> str:
        try:
            return str(self.store.materialize(obj, name, run_id, step_name, project_name))
        except Exception as exc:  # any serializer's failure: the step itself succeeded
            log.warning(
                "output %r of step %s is not kept (%s: %s): a resume runs the step again",
                name,
                step_name,
                type(exc).__name__,
                exc,
            )
            return ""


def execute(
    orch: RemoteOrchestrator, pipeline: Pipeline, spec: JobSpec, *, max_workers: int = 1, cache_store: Any = None
) -> PipelineResult:
    """Claim ``spec``'s run id, run its units' steps here (reused units' results loaded), record how it went."""
    from flowyml.artifacts.store import ArtifactStore

    token = executing_here.set(True)
    try:
        submission = orch.submit_spec(spec)
    finally:
        executing_here.reset(token)
    store = ArtifactStore(spec.artifact_root, orch.store_settings)
    source = RunLayout(spec.inputs_from or spec.run_id)
    inputs = {name: store.load(source.input(name)) for name in spec.input_names}
    run = pipeline.new_run(
        inputs, run_id=spec.run_id, artifact_store=_KeepingStore(store), context=spec.context, cache_store=cache_store
    )
    run.metadata["recorded"] = True
    if spec.resumed_from:
        run.metadata["resumed_from"] = spec.resumed_from
    _reuse(run, pipeline, spec, store)
    units = UnitRecorder(store, spec)
    units.watch(run)
    try:
        result = run.execute(max_workers)
    except KeyboardInterrupt:
        units.interrupted()
        _finish(store, spec, ExecutionStatus.CANCELLED, "interrupted (Ctrl-C or flowyml cancel)")
        orch.get_status_report(submission.handle)
        raise
    if result.success:
        _finish(store, spec, ExecutionStatus.COMPLETED, None)
    else:
        _finish(store, spec, ExecutionStatus.STOPPED if result.stopped else ExecutionStatus.FAILED, units.first_failure)
    orch.get_status_report(submission.handle)  # the registry row takes the outcome
    return result


def _reuse(run: Any, pipeline: Pipeline, spec: JobSpec, store: Any) -> None:
    """Give the run the results of the units it reuses: their outputs, loaded from the run that made them."""
    for reused in spec.reused:
        recorded = read_unit_result(store, reused.run_id, reused.unit.name)
        layout = RunLayout(reused.run_id)
        for name in reused.unit.steps:
            step = pipeline.get_step(name)
            record = recorded.step(name) if recorded is not None else None
            if record is not None and record.skipped:
                run.record(step, ExecutionResult(name, True, skipped=True, error=record.error))
                continue
            values = {
                out: store.load(layout.output(name, out)) for out, by in reused.unit.outputs.items() if by == name
            }
            value: Any = (next(iter(values.values())) if len(values) == 1 else values) if values else None
            uris = {out: store.storage.uri(layout.output(name, out)) for out in values}
            run.record(step, ExecutionResult(name, True, output=value, cached=True, artifact_uris=uris))


def _done(result: ExecutionResult) -> bool:
    """A step that finished its work (a step skipped because a dependency failed or the run stopped did not)."""
    return result.success and not (result.skipped and result.error)


class UnitRecorder:
    """Writes each unit's result as soon as its last step has one (as the step-runner does), so a
    run's progress is visible while it runs and survives the process being killed."""

    def __init__(self, store: Any, spec: JobSpec) -> None:
        self.store, self.spec = store, spec
        self.layout = RunLayout(spec.run_id)
        self.unit_of = {s: u for u in spec.units for s in u.steps}
        self.results: dict[str, ExecutionResult] = {}
        self.written: set[str] = set()
        self.started = time.time()
        self.first_failure: str | None = None

    def watch(self, run: Any) -> None:
        """Have ``run`` report each step result here as it records it."""
        record = run.record

        def recorded(step: Any, result: ExecutionResult) -> None:
            record(step, result)
            self.step_ended(result)

        run.record = recorded

    def step_ended(self, result: ExecutionResult) -> None:
        unit = self.unit_of.get(result.step_name)
        if unit is None:
            return  # a reused step
        self.results[result.step_name] = result
        got = [self.results[s] for s in unit.steps if s in self.results]
        failed = next((r for r in got if not r.success), None)
        if failed is not None:
            error = f"step {failed.step_name!r} failed: {((failed.error or '').splitlines() or [''])[0]}"
            self.first_failure = self.first_failure or f"unit {unit.name!r}: {error}"
            self.write(unit.name, UnitResult(unit.name, False, error, _steps(got), *self._span(got), 1))
        elif len(got) == len(unit.steps) and all(_done(r) for r in got):
            self.write(unit.name, UnitResult(unit.name, True, None, _steps(got), *self._span(got), 0))

    def _span(self, got: list[ExecutionResult]) -> tuple[float, float]:
        """(start, end) of a unit that just ended: its steps' time back from now, not the run's start."""
        now = time.time()
        return max(self.started, now - sum(r.duration_seconds for r in got)), now

    def interrupted(self) -> None:
        """Mark the units the interrupt stopped part-way (a resume runs them again)."""
        for unit in self.spec.units:
            got = [self.results[s] for s in unit.steps if s in self.results]
            if got and unit.name not in self.written:
                doc = UnitResult(unit.name, False, "interrupted", _steps(got), self.started, time.time(), INTERRUPTED)
                self.write(unit.name, doc)

    def write(self, unit: str, result: UnitResult) -> None:
        if unit not in self.written:
            self.written.add(unit)
            self.store.write_json(self.layout.unit_result(unit), result.to_dict())


def _steps(results: list[ExecutionResult]) -> list[StepRecord]:
    return [StepRecord.of(r) for r in results]


def _finish(store: Any, spec: JobSpec, status: ExecutionStatus, message: str | None) -> None:
    doc = {"status": status.value, "message": message, "finished_at": time.time()}
    store.write_json(RunLayout(spec.run_id).outcome, doc)


def resume_in_process(
    run_id: str,
    from_step: str | None = None,
    new_run_id: str | None = None,
    *,
    max_workers: int = 1,
    registry: Any = None,
) -> PipelineResult:
    """Resume an in-process run here: its completed units are reused, the rest runs in this process."""
    from flowyml.runner import load_pipeline

    orch, plan = plan_in_process(run_id, from_step, new_run_id, registry=registry)
    return execute(orch, load_pipeline(plan.spec.pipeline), plan.spec, max_workers=max_workers)


def plan_in_process(
    run_id: str, from_step: str | None = None, new_run_id: str | None = None, *, registry: Any = None
) -> tuple[RemoteOrchestrator, Any]:
    """(orchestrator, :class:`~flowyml.orchestrators.resume.ResumePlan`) for an in-process run."""
    from flowyml.orchestrators.registry import RunRegistry
    from flowyml.orchestrators.resume import plan_for

    registry = registry or RunRegistry()
    handle = registry.get(run_id).handle
    orch = orchestrator(handle.artifact_root, registry)
    return orch, plan_for(orch, handle.run_id, from_step, new_run_id)
