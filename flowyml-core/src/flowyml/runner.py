"""``flowyml step-runner``: what runs inside every container, on every backend.

It reads the job spec from the artifact store, imports the pipeline, loads the unit's inputs,
runs the unit's steps with ``LocalExecutor.execute_step_group`` (retries and conditions as
locally), writes each output with its manifest, records the unit's result, prints one JSON log
line per event and exits non-zero if a step failed.
"""

from __future__ import annotations

__all__ = ["main", "run_unit", "emit"]

import argparse
import importlib
import importlib.util
import json
import os
import sys
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from flowyml.artifacts.store import ArtifactStore
from flowyml.core import capture
from flowyml.core.context import Context
from flowyml.core.errors import ArtifactNotFoundError, FlowymlError
from flowyml.core.executor import ExecutionResult, LocalExecutor
from flowyml.core.pipeline import Pipeline
from flowyml.core.step_grouping import StepGroup
from flowyml.orchestrators.layout import RunLayout, StepRecord, UnitResult, read_unit_result
from flowyml.orchestrators.spec import PIPELINE_INPUT
from flowyml.plugins.types import JobSpec, PipelineRef, UnitSpec, store_settings_from_env
from flowyml.secrets import NATIVE_SECRETS_ENV, Masker, SecretError, resolve_all

EXIT_OK, EXIT_STEP_FAILED, EXIT_SETUP_FAILED = 0, 1, 2


#: Masks the unit's resolved secrets in everything it logs (set once they are resolved).
mask = Masker()


def emit(severity: str, message: str, **fields: Any) -> None:
    """One structured log line on stdout (what every backend's log reader sees)."""
    fields = {k: mask(v) if isinstance(v, str) else v for k, v in fields.items()}
    record = {"ts": round(time.time(), 3), "severity": severity, "message": mask(message), **fields}
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


#: The pipeline module being imported by this step-runner, if any (see ``check_not_importing``).
importing: str | None = None


def check_not_importing() -> None:
    """Refuse a submission made while the step-runner imports the pipeline module.

    A module that submits at import time (no ``if __name__ == "__main__":`` guard) would
    otherwise make every unit submit a new run, whose units submit again, without end.
    """
    if importing is not None:
        raise FlowymlError(
            f"run_pipeline() was called while the flowyml step-runner imported {importing}; guard the "
            'submission in that module with `if __name__ == "__main__":`'
        )


def workdir_on_path() -> None:
    """Make the job's working directory importable (pipeline modules, credential factories)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def load_pipeline(ref: PipelineRef) -> Pipeline:
    """Import the module (by name, else by file path) and fetch the pipeline attribute."""
    return pipeline_from(import_pipeline_module(ref), ref)


def import_pipeline_module(ref: PipelineRef) -> ModuleType:
    """Import the pipeline's module once: by name when it is importable, else from its file."""
    global importing
    importing = ref.describe()
    try:
        if ref.module:
            workdir_on_path()
            try:
                return importlib.import_module(ref.module)
            except ModuleNotFoundError as exc:
                if not ref.path or (exc.name != ref.module.split(".")[0] and exc.name != ref.module):
                    raise
        if not ref.path:
            raise FlowymlError(f"cannot import pipeline module {ref.describe()}")
        spec = importlib.util.spec_from_file_location("_flowyml_pipeline_module", ref.path)
        if spec is None or spec.loader is None:
            raise FlowymlError(f"cannot load pipeline file {ref.path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        importing = None


def pipeline_from(module: ModuleType, ref: PipelineRef) -> Pipeline:
    """The pipeline ``ref.attribute`` names in ``module`` (a Pipeline, or a function returning one)."""
    target = getattr(module, ref.attribute, None)
    if target is None:
        raise FlowymlError(f"{ref.describe()}: the module has no attribute {ref.attribute!r}")
    if not isinstance(target, Pipeline) and callable(target):
        target = target()
    if not isinstance(target, Pipeline):
        raise FlowymlError(f"{ref.describe()} is a {type(target).__name__}, not a flowyml Pipeline")
    return target


def run_unit(spec: JobSpec, unit: UnitSpec, store: ArtifactStore) -> list[ExecutionResult]:
    pipeline = load_pipeline(spec.pipeline)
    dag = pipeline.build(spec.input_names)
    steps = [dag.steps[name] for name in unit.steps]
    inputs: dict[str, Any] = {}
    unavailable: set[str] = set()
    layout = RunLayout(spec.run_id)
    for name, producer in unit.inputs.items():
        if producer == PIPELINE_INPUT:
            key = (RunLayout(spec.inputs_from) if spec.inputs_from else layout).input(name)
        else:  # a resumed run reads a reused unit's outputs where the earlier run wrote them
            source = spec.producer_run(producer)
            key = (layout if source == spec.run_id else RunLayout(source)).output(producer, name)
        try:
            inputs[name] = store.load(key)
        except ArtifactNotFoundError:
            if producer != PIPELINE_INPUT and _was_skipped(store, spec, producer):
                unavailable.add(name)  # upstream condition skipped it: the consumers skip too
                continue
            raise
    runnable = [s for s in steps if not unavailable.intersection(s.inputs)]
    skipped_names = {s.name for s in steps} - {s.name for s in runnable}
    # A step that consumes a skipped step's output is skipped as well (within the unit too).
    results_by_name: dict[str, ExecutionResult] = {}
    for s in steps:
        if s.name in skipped_names:
            results_by_name[s.name] = ExecutionResult(s.name, True, skipped=True, error="skipped: an input was skipped")
    group = StepGroup(unit.name, [s for s in runnable], [s.name for s in runnable])
    executor = LocalExecutor()
    for r in executor.execute_step_group(
        group,
        inputs,
        context=Context(spec.context),
        artifact_store=store,
        run_id=spec.run_id,
        project_name=spec.pipeline_name,
    ):
        results_by_name[r.step_name] = r
    return [results_by_name[s.name] for s in steps if s.name in results_by_name]


def _was_skipped(store: ArtifactStore, spec: JobSpec, step_name: str) -> bool:
    units = [(u.name, u.steps, spec.run_id) for u in spec.units] + [
        (u.unit.name, u.unit.steps, u.run_id) for u in spec.reused
    ]
    for name, steps, run_id in units:
        if step_name in steps:
            result = read_unit_result(store, run_id, name)
            record = result.step(step_name) if result else None
            return record is not None and record.skipped
    return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flowyml step-runner", description="Run one execution unit of a job.")
    parser.add_argument("--job", default=os.environ.get("FLOWYML_JOB_SPEC"), help="URI of the job spec JSON")
    parser.add_argument("--unit", default=os.environ.get("FLOWYML_UNIT"), help="name of the unit to run")
    parser.add_argument("--schedule", help="started by this schedule: --job is its template")
    parser.add_argument("--fire-time", help="with --schedule: the firing's time (RFC 3339), which names the run")
    args = parser.parse_args(argv)
    if not args.job or not args.unit:
        parser.error("--job and --unit are required (or FLOWYML_JOB_SPEC / FLOWYML_UNIT)")
    settings = store_settings_from_env()
    workdir_on_path()  # before the store opens: a `module:factory` credential may live in the workdir
    try:
        store = ArtifactStore(RunLayout.artifact_root_of(args.job), settings)
        spec = JobSpec.from_dict(store.read_json(args.job))
        if args.schedule:  # a cloud schedule's firing: this run's own spec, from the template
            from flowyml.plugins.schedules import claim_firing, parse_fire_time

            spec = claim_firing(store, spec, args.schedule, parse_fire_time(args.fire_time or ""))
            os.environ["FLOWYML_RUN_ID"] = spec.run_id  # the service set the template's (the schedule's name)
        unit = spec.unit(args.unit)
    except Exception as exc:
        emit("ERROR", f"cannot start unit {args.unit!r}: {type(exc).__name__}: {exc}", unit=args.unit)
        return EXIT_SETUP_FAILED
    started = time.time()
    try:
        load_secrets(spec)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        emit("ERROR", f"unit {unit.name} could not read its secrets: {error}", unit=unit.name)
        _record(store, spec, UnitResult(unit.name, False, error, [], started, time.time(), EXIT_SETUP_FAILED))
        return EXIT_SETUP_FAILED
    emit("INFO", f"unit {unit.name} started: steps {', '.join(unit.steps)}", unit=unit.name, run_id=spec.run_id)
    try:
        results = run_unit(spec, unit, store)
    except Exception as exc:
        import traceback

        error = f"{type(exc).__name__}: {exc}"
        emit("ERROR", f"unit {unit.name} could not run: {error}", unit=unit.name, traceback=traceback.format_exc())
        _record(store, spec, UnitResult(unit.name, False, error, [], started, time.time(), EXIT_SETUP_FAILED))
        return EXIT_SETUP_FAILED
    for r in results:
        if r.success:
            emit(
                "INFO", f"step {r.step_name} {r.status} in {r.duration_seconds:.3f}s", unit=unit.name, step=r.step_name
            )
        else:
            emit("ERROR", f"step {r.step_name} failed: {r.error}", unit=unit.name, step=r.step_name)
    ok = all(r.success for r in results)
    failed = next((r for r in results if not r.success), None)
    failure = None if failed is None else f"step {failed.step_name!r} failed: {(failed.error or '').splitlines()[0]}"
    steps = [StepRecord.of(r) for r in results]
    code = EXIT_OK if ok else EXIT_STEP_FAILED
    _record(store, spec, UnitResult(unit.name, ok, failure, steps, started, time.time(), code))
    emit("INFO" if ok else "ERROR", f"unit {unit.name} {'completed' if ok else 'failed'}", unit=unit.name)
    return code


def load_secrets(spec: JobSpec) -> None:
    """Resolve the spec's secret references into this process's environment, and mask their values
    in everything the unit prints from now on (the step's output, the executor's capture, our lines)."""
    native = sorted({n.strip() for n in os.environ.get(NATIVE_SECRETS_ENV, "").split(",") if n.strip()})
    missing = [n for n in native if n not in os.environ]
    if missing:  # never resolved here instead: the platform was to inject them with its own role
        refs = ", ".join(f"{n} ({spec.secrets.get(n, 'no reference')})" for n in missing)
        raise SecretError(f"the platform was to inject {refs} ({NATIVE_SECRETS_ENV}), and did not set it")
    values = resolve_all({name: ref for name, ref in spec.secrets.items() if name not in native})
    os.environ.update(values)
    mask.add([*values.values(), *(os.environ[n] for n in native)])
    if mask.values:
        capture.redact = mask
        capture.install()


def _record(store: ArtifactStore, spec: JobSpec, result: UnitResult) -> None:
    doc = mask.deep(result.to_dict())  # an error message may quote a secret: the result file gets it masked
    store.write_json(RunLayout(spec.run_id).unit_result(result.unit), doc)


if __name__ == "__main__":
    # Run the imported module, not this __main__ copy, so its state (``importing``) is the one
    # ``RemoteOrchestrator.run_pipeline`` checks.
    from flowyml.runner import main as runner_main

    raise SystemExit(runner_main())
