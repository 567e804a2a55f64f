"""Submission: one unit -> one command job; more units -> one pipeline job of command components.

The job name is derived from the run id, and every create is preceded by a GET of that name, so
a retried submit (after a lost response, a crash, a second ``run_pipeline`` with the same run
id) finds the job it made instead of creating another.
"""

from __future__ import annotations

import contextlib
import functools
import shlex
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from flowyml.core.errors import ConfigError, RunNotFoundError
from flowyml.plugins.types import STORE_SETTINGS_ENV, JobSpec, RunHandle, UnitSpec, store_settings_env
from flowyml_azure.client import get_job, is_conflict, is_not_found, ml_client, refused, retrying
from flowyml_azure.config import AzureMLConfig
from flowyml_azure.names import experiment_name, job_name, node_names

BACKEND = "azureml"
DONE = "done"  # every component's tiny uri_folder output; dependencies bind it to an input
#: Store settings that only make sense on the submitting machine: a variable the compute lacks and
#: a path to a file there. Jobs authenticate with the compute's identity and trust the image's CAs.
LOCAL_STORE_SETTINGS = ("connection_string_env", "ca_bundle")
#: A schedule's template: the pipeline input Azure ML fills with each firing's trigger time, and the
#: expression that fills it (supported in string inputs of pipeline jobs only).
FIRE_TIME_INPUT = "fire_time"
TRIGGER_TIME = "${{creation_context.trigger_time}}"


class _BuildGate:
    """azure-ai-ml adds every node it creates to the pipeline being built on a process-wide stack,
    and while that stack is not empty a node's outputs refuse ``bool()``, which serializing a job
    calls. So a build excludes every other build and every serialization (a create's request
    body), while serializations run together. A waiting build goes before new serializations.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._building = False
        self._waiting = 0
        self._serializing = 0

    @contextlib.contextmanager
    def build(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._building or self._serializing:
                self._cond.wait()
            self._waiting -= 1
            self._building = True
        try:
            yield
        finally:
            with self._cond:
                self._building = False
                self._cond.notify_all()

    @contextlib.contextmanager
    def serialize(self) -> Iterator[None]:
        with self._cond:
            while self._building or self._waiting:
                self._cond.wait()
            self._serializing += 1
        try:
            yield
        finally:
            with self._cond:
                self._serializing -= 1
                self._cond.notify_all()


GATE = _BuildGate()
_F = TypeVar("_F", bound=Callable[..., Any])


def _one_at_a_time(build: _F) -> _F:
    @functools.wraps(build)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with GATE.build():
            return build(*args, **kwargs)

    return locked  # type: ignore[return-value]


def _environment(spec: JobSpec, config: AzureMLConfig) -> Any:
    if config.environment:
        return config.environment
    if not spec.image:
        raise ConfigError(
            "azureml needs an image with your code and flowyml installed: set docker.image in the stack "
            "(or orchestrator.environment to a registered environment, azureml:<name>:<version>)"
        )
    from azure.ai.ml.entities import Environment

    return Environment(image=spec.image)


def _tags(spec: JobSpec, config: AzureMLConfig, unit: str | None = None) -> dict[str, str]:
    tags = {**config.tags, **spec.labels, "flowyml.run_id": spec.run_id, "flowyml.pipeline": spec.pipeline_name}
    if unit:
        tags["flowyml.unit"] = unit
    return tags


def job_env(spec: JobSpec, unit: str) -> dict[str, str]:
    """The unit's environment without the store settings that only work on this machine."""
    env = spec.unit_env(unit)
    if any(key in spec.store_settings for key in LOCAL_STORE_SETTINGS):
        kept = {k: v for k, v in spec.store_settings.items() if k not in LOCAL_STORE_SETTINGS}
        if kept:
            env[STORE_SETTINGS_ENV] = store_settings_env(kept)
        else:
            env.pop(STORE_SETTINGS_ENV, None)
    return env


def _unit_kwargs(
    spec: JobSpec, config: AzureMLConfig, unit: UnitSpec, environment: Any, schedule: str | None = None
) -> dict[str, Any]:
    """What every command (job or component) of a unit gets; a schedule's units end their command
    in ``--schedule <name> --fire-time '${{inputs.fire_time}}'`` (Azure ML resolves the input)."""
    command = shlex.join(spec.unit_command(unit.name))
    if schedule is not None:
        # quoted: Azure ML replaces the placeholder in the text, and a time may hold spaces
        command += f" --schedule {shlex.quote(schedule)} --fire-time '${{{{inputs.{FIRE_TIME_INPUT}}}}}'"
    kwargs: dict[str, Any] = {
        "command": command,
        "environment": environment,
        "environment_variables": job_env(spec, unit.name),
        "display_name": unit.name,
        "instance_count": config.instances_for(unit.name),
    }
    if unit.resources.machine_type:
        kwargs["instance_type"] = unit.resources.machine_type
    if spec.timeout_seconds:
        kwargs["timeout"] = int(spec.timeout_seconds)
    return kwargs


@_one_at_a_time
def build_command_job(spec: JobSpec, config: AzureMLConfig, name: str) -> Any:
    from azure.ai.ml import command

    unit = spec.units[0]
    return command(
        name=name,
        compute=config.compute_for(unit.name, unit.resources.gpu_count),
        experiment_name=config.experiment_name or experiment_name(spec.pipeline_name),
        tags=_tags(spec, config, unit.name),
        description=f"flowyml run {spec.run_id} of pipeline {spec.pipeline_name}",
        **_unit_kwargs(spec, config, unit, _environment(spec, config)),
    )


@_one_at_a_time
def build_pipeline_job(spec: JobSpec, config: AzureMLConfig, name: str | None, schedule: str | None = None) -> Any:
    """A ``@dsl.pipeline`` of one command component per unit; ``depends_on`` edges become
    bindings of the upstream node's ``done`` output to an ``after_<i>`` input.

    With ``schedule``: the template of that schedule's firings (also for one unit), whose string
    input ``fire_time`` is Azure ML's trigger time, bound to every component's ``fire_time``.
    """
    from azure.ai.ml import Input, Output, command, dsl

    nodes = node_names([u.name for u in spec.units])
    environment = _environment(spec, config)  # one anonymous environment shared by every node
    extra = {FIRE_TIME_INPUT: Input(type="string")} if schedule is not None else {}
    components = {
        unit.name: command(
            name=nodes[unit.name],
            inputs={**{f"after_{i}": Input(type="uri_folder") for i in range(len(unit.depends_on))}, **extra},
            outputs={DONE: Output(type="uri_folder")},
            **_unit_kwargs(spec, config, unit, environment, schedule),
        )
        for unit in spec.units
    }

    def build_nodes(fire_time: Any = None) -> None:
        built: dict[str, Any] = {}
        for unit in spec.units:
            bindings = {f"after_{i}": built[dep].outputs[DONE] for i, dep in enumerate(unit.depends_on)}
            if fire_time is not None:
                bindings[FIRE_TIME_INPUT] = fire_time
            node = components[unit.name](**bindings)
            node.name = nodes[unit.name]
            node.display_name = unit.name
            node.compute = config.compute_for(unit.name, unit.resources.gpu_count)
            node.tags = {"flowyml.unit": unit.name}
            built[unit.name] = node

    decorate = dsl.pipeline(
        None,
        name=nodes[spec.units[0].name] + "_pipeline",
        display_name=spec.pipeline_name,
        description=f"flowyml run {spec.run_id} of pipeline {spec.pipeline_name}",
        compute=config.compute,
    )
    if schedule is None:

        @decorate
        def flowyml_pipeline() -> None:
            build_nodes()

        job = flowyml_pipeline()
    else:

        def flowyml_schedule(fire_time: Any) -> None:
            build_nodes(fire_time)

        # the dsl reads the input's type from the annotation (a string here: postponed annotations)
        flowyml_schedule.__annotations__ = {FIRE_TIME_INPUT: Input(type="string"), "return": None}
        job = decorate(flowyml_schedule)(fire_time=TRIGGER_TIME)
    job.name = name
    job.display_name = spec.pipeline_name
    job.experiment_name = config.experiment_name or experiment_name(spec.pipeline_name)
    job.tags = _tags(spec, config)
    settings = job.settings
    assert settings is not None  # a dsl pipeline always has settings
    settings.continue_on_step_failure = False
    settings.default_compute = config.compute
    return job


def _ensure_job(spec: JobSpec, config: AzureMLConfig, name: str) -> Any:
    """One attempt: GET the job by name; create it only if it is not there."""
    ml = ml_client(config)
    try:
        return ml.jobs.get(name)
    except Exception as exc:
        if not is_not_found(exc):
            raise
    job = build_command_job(spec, config, name) if len(spec.units) == 1 else build_pipeline_job(spec, config, name)
    try:
        with GATE.serialize():  # the request body is the job serialized: not while another job is built
            return ml.jobs.create_or_update(job, experiment_name=job.experiment_name)
    except Exception as exc:
        if not is_conflict(exc):
            raise
    return ml.jobs.get(name)  # created by an earlier attempt whose answer was lost


def submit(spec: JobSpec, config: AzureMLConfig) -> RunHandle:
    config.validate()
    if not spec.units:
        raise ConfigError(f"run {spec.run_id!r} has no execution units")
    name = job_name(spec.run_id)
    try:
        job = retrying(lambda: _ensure_job(spec, config, name), f"submit Azure ML job {name}", config)
    except Exception as exc:
        raise refused(exc, f"submitting Azure ML job {name}") from exc
    return handle_of(spec, config, job)


def find(spec: JobSpec, config: AzureMLConfig) -> RunHandle | None:
    """The handle of the job an earlier submit of ``spec`` created (its name comes from the run id),
    or None; creates nothing. Core adopts with it a run whose submitter died before recording it."""
    try:
        return handle_of(spec, config, get_job(config, job_name(spec.run_id)))
    except RunNotFoundError:
        return None


def handle_of(spec: JobSpec, config: AzureMLConfig, job: Any) -> RunHandle:
    """The run's handle on its Azure ML job (a command job for one unit, else a pipeline job)."""
    name = job_name(spec.run_id)
    pipeline = len(spec.units) > 1
    units = node_names([u.name for u in spec.units]) if pipeline else {spec.units[0].name: name}
    services = getattr(job, "services", None) or {}
    studio = getattr(services.get("Studio"), "endpoint", None)
    return RunHandle(
        backend=BACKEND,
        run_id=spec.run_id,
        job_id=name,
        units=units,
        metadata={
            "job_type": "pipeline" if pipeline else "command",
            "experiment": getattr(job, "experiment_name", None),
            "studio_url": studio,
            "workspace": config.workspace_name,
        },
    )
