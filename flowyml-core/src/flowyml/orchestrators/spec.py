"""Turning a ``Pipeline`` into the serialisable ``JobSpec`` every backend receives."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowyml.core.errors import FlowymlError
from flowyml.core.pipeline import Pipeline
from flowyml.core.resources import DockerConfig, ResourceConfig
from flowyml.core.step_grouping import (
    get_execution_units,
    get_unit_dependencies,
    unit_name,
    unit_steps,
)
from flowyml.plugins.types import JobSpec, PipelineRef, UnitSpec

PIPELINE_INPUT = "__input__"


def pipeline_ref(pipeline: Pipeline, override: str | None = None) -> PipelineRef:
    """Where the step-runner can import ``pipeline`` from.

    ``override`` is ``"module"``, ``"module:attribute"`` or ``"path/to/file.py:attribute"``.
    Otherwise the module that created the pipeline is used, and the global that holds it.
    """
    if override:
        target, _, attribute = override.partition(":")
        attribute = attribute or _find_attribute(pipeline, _module_globals(target)) or "pipeline"
        if target.endswith(".py") or os.sep in target:
            return PipelineRef(
                module=_module_name_for(Path(target)), path=str(Path(target).resolve()), attribute=attribute
            )
        return PipelineRef(module=target, attribute=attribute)
    origin = getattr(pipeline, "_origin", None) or (None, None)
    module_name, file = origin
    if module_name is None and file is None:
        raise FlowymlError(
            f"cannot tell which module defines pipeline {pipeline.name!r}; pass pipeline_module='module:attribute'"
        )
    module = sys.modules.get(module_name or "")
    found = _find_attribute(pipeline, vars(module) if module else {})
    if found is None:
        raise FlowymlError(
            f"pipeline {pipeline.name!r} is not a module-level variable of {module_name or file}, so a remote "
            "step-runner could not import it; assign it to a global, or pass "
            "pipeline_module='module:function_returning_the_pipeline'"
        )
    if module_name in (None, "__main__") and not _is_source_file(file):
        raise FlowymlError(
            f"pipeline {pipeline.name!r} was defined in a notebook or an interactive session "
            f"({'__main__ has no file' if not file else f'its code came from {file}'}), so a job could not "
            "import it: move the pipeline to a .py file and submit it from there (flowyml run FILE.py --stack ...), "
            "or pass pipeline_module='module:attribute' naming an importable module that defines it"
        )
    path = str(Path(file).resolve()) if file else None
    name = module_name if module_name not in (None, "__main__") else (_module_name_for(Path(file)) if file else None)
    return PipelineRef(module=name, path=path, attribute=found)


def _is_source_file(file: str | None) -> bool:
    """A real ``.py`` file a step-runner can load (not ``<stdin>``, ``<string>`` or a notebook cell)."""
    return bool(file) and str(file).endswith(".py") and Path(str(file)).is_file()


def _module_globals(target: str) -> dict[str, Any]:
    module = sys.modules.get(target)
    return vars(module) if module else {}


def _find_attribute(pipeline: Pipeline, namespace: Mapping[str, Any]) -> str | None:
    for key, value in namespace.items():
        if value is pipeline and not key.startswith("_"):
            return key
    return None


def _module_name_for(path: Path) -> str | None:
    """``examples/digits.py`` -> ``examples.digits`` when it lies under the working directory."""
    try:
        rel = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return None
    parts = list(rel.with_suffix("").parts)
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


def _json_context(params: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in params.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise FlowymlError(
                f"context parameter {key!r} ({type(value).__name__}) cannot travel to a remote run: "
                "context values must be JSON-serialisable; pass large objects as pipeline inputs instead"
            ) from None
    return dict(params)


def build_job_spec(
    pipeline: Pipeline,
    run_id: str,
    artifact_root: str,
    *,
    inputs: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    resources: ResourceConfig | None = None,
    docker: DockerConfig | None = None,
    pipeline_module: str | None = None,
    stack: str | None = None,
    store_settings: Mapping[str, str] | None = None,
    runner_command: list[str] | None = None,
    timeout_seconds: float | None = None,
    labels: Mapping[str, str] | None = None,
) -> JobSpec:
    """Build the job spec: one ``UnitSpec`` per execution unit, in dependency order."""
    input_names = list(inputs or {})
    dag = pipeline.build(input_names)
    units = get_execution_units(dag, pipeline.steps)
    deps = get_unit_dependencies(dag, units)
    owner = {s: unit_name(u) for u in units for s in unit_steps(u)}
    unit_specs = []
    for u in units:
        name = unit_name(u)
        steps = [dag.steps[s] for s in unit_steps(u)]
        needed: dict[str, str] = {}
        for s in steps:
            for inp in s.inputs:
                producer = dag.producers.get(inp)
                if producer is None:
                    needed[inp] = PIPELINE_INPUT
                elif owner[producer] != name:
                    needed[inp] = producer
        unit_resources = (u.resources or ResourceConfig()).with_defaults(resources)
        unit_specs.append(
            UnitSpec(
                name=name,
                steps=[s.name for s in steps],
                depends_on=deps[name],
                resources=unit_resources,
                inputs=needed,
                outputs={o: s.name for s in steps for o in s.outputs},
            )
        )
    params = pipeline.context.to_dict()
    params.update(context or {})
    docker = docker or DockerConfig()
    return JobSpec(
        run_id=run_id,
        pipeline_name=pipeline.name,
        pipeline=pipeline_ref(pipeline, pipeline_module),
        units=unit_specs,
        artifact_root=artifact_root.rstrip("/"),
        image=docker.image,
        env={k: v for k, v in docker.env_vars.items() if k not in docker.secrets},
        context=_json_context(params),
        input_names=input_names,
        stack=stack,
        labels={"flowyml-run-id": run_id, "flowyml-pipeline": pipeline.name, **(labels or {})},
        timeout_seconds=timeout_seconds,
        store_settings=dict(store_settings or {}),
        runner_command=list(runner_command or docker.command or ["flowyml", "step-runner"]),
        secrets=dict(docker.secrets),
    )
