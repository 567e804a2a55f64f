"""Compile a flowyml job into a KFP v2 pipeline spec: one container task per execution unit.

No ``from __future__ import annotations`` here: KFP reads annotations when it decorates a
component, and a string annotation is taken for an artifact type.
"""

import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flowyml.core.errors import ConfigError
from flowyml.plugins.types import JobSpec, UnitSpec
from flowyml_gcp import machine
from flowyml_gcp.config import VertexAIConfig
from flowyml_gcp.names import kfp_name

SPEC_FILE = "pipeline.yaml"
#: KFP builds a pipeline in a process-global context ("Nested pipelines are not allowed" from a
#: second thread): one compile at a time
_KFP = threading.Lock()


def _component(spec: JobSpec, unit: UnitSpec, extra_args: Sequence[str] = ()) -> Any:
    """A container component whose command is this unit's step-runner command (plus ``extra_args``)."""
    from kfp import dsl

    image, command = spec.image, [*spec.unit_command(unit.name), *extra_args]

    def component():  # kfp: no return annotation (or exactly ContainerSpec)
        return dsl.ContainerSpec(image=image, command=command)

    component.__name__ = kfp_name(unit.name).replace("-", "_")  # the task key in the DAG
    return dsl.container_component(component)


def _configure(task: Any, spec: JobSpec, unit: UnitSpec, config: VertexAIConfig) -> None:
    task.set_display_name(unit.name)
    for name, value in spec.unit_env(unit.name).items():
        task.set_env_variable(name, str(value))
    res = unit.resources
    if res.cpu:
        task.set_cpu_limit(machine.kfp_cpu(res.cpu))
    if res.memory:
        task.set_memory_limit(machine.kfp_memory(res.memory))
    acc = machine.accelerator(res)
    if acc:
        task.set_accelerator_type(acc[0]).set_accelerator_limit(acc[1])
    task.set_caching_options(config.enable_caching)


def compile_pipeline(
    spec: JobSpec, config: VertexAIConfig, extra_args: Sequence[str] = ()
) -> tuple[dict[str, Any], dict[str, str]]:
    """(the compiled pipeline spec as a dict, unit name -> KFP task key).

    ``extra_args`` go after every unit's step-runner command (a schedule's ``--fire-time``).
    The YAML is written to a private temp directory that is removed before this returns.
    """
    if not spec.image:
        raise ConfigError("vertex_ai needs a container image: set docker.image in the stack")
    for unit in spec.units:
        machine.check_pipeline_disk(unit.name, unit.resources)
    with _KFP:
        return _compile(spec, config, extra_args)


def _compile(
    spec: JobSpec, config: VertexAIConfig, extra_args: Sequence[str] = ()
) -> tuple[dict[str, Any], dict[str, str]]:
    import yaml
    from kfp import compiler, dsl

    components = {u.name: _component(spec, u, extra_args) for u in spec.units}

    @dsl.pipeline(name=kfp_name(spec.pipeline_name), description=f"flowyml run {spec.run_id}")
    def pipeline():  # kfp reads the signature: no annotations
        tasks: dict[str, Any] = {}
        for unit in spec.topological_units():
            task = components[unit.name]()
            _configure(task, spec, unit, config)
            for dep in unit.depends_on:
                task.after(tasks[dep])
            tasks[unit.name] = task

    with tempfile.TemporaryDirectory(prefix="flowyml-kfp-") as tmp:
        path = Path(tmp) / SPEC_FILE
        compiler.Compiler().compile(pipeline_func=pipeline, package_path=str(path))
        compiled = yaml.safe_load(path.read_text())
    task_keys = {t["taskInfo"]["name"]: key for key, t in compiled["root"]["dag"]["tasks"].items()}
    missing = [u.name for u in spec.units if u.name not in task_keys]
    if missing:
        raise ConfigError(f"kfp compiled no task for units {missing}")
    return compiled, {u.name: task_keys[u.name] for u in spec.units}
