"""The data that crosses the plugin contract: job specs, run handles, status reports, log records.

All frozen attrs classes; they turn into JSON (``to_dict``/``from_dict``) only at the edges:
the run registry, the job spec file the step-runner reads, ``--json`` output.
"""

from __future__ import annotations

__all__ = [
    "CONTRACT_VERSION",
    "PipelineRef",
    "UnitSpec",
    "ReusedUnit",
    "JobSpec",
    "RunHandle",
    "StatusReport",
    "LogRecord",
    "converter",
]

import json
import os
import time
from collections.abc import Mapping
from typing import Any

import attrs

from flowyml.core.resources import ResourceConfig
from flowyml.core.status import ExecutionStatus

#: Bumped when a hook is added; plugins may declare the version they were written for.
CONTRACT_VERSION = 2

#: The job's variable carrying the artifact store's settings (JSON, resolved by the submitter: the
#: job needs them to open the store before it can read anything else).
STORE_SETTINGS_ENV = "FLOWYML_STORE_SETTINGS"


def resolve_store_settings(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Stored store settings with each ``${VAR}`` resolved from this process's environment.

    A setting whose variable is not set here is left out, with a warning naming it: the store then
    uses its own defaults (the job's identity).
    """
    from flowyml.secrets import resolve_templates

    return resolve_templates(stored, "artifact_store.settings")


def store_settings_env(stored: Mapping[str, Any]) -> str:
    """The value of ``$FLOWYML_STORE_SETTINGS`` for a job, from settings in their stored form."""
    return json.dumps(resolve_store_settings(stored), sort_keys=True)


def store_settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The artifact store's settings a job was given (``$FLOWYML_STORE_SETTINGS``; default: this process's)."""
    return dict(json.loads((os.environ if environ is None else environ).get(STORE_SETTINGS_ENV) or "{}"))


def _converter():
    import cattrs

    conv = cattrs.Converter()
    conv.register_structure_hook(ExecutionStatus, lambda v, _: ExecutionStatus(v))
    conv.register_unstructure_hook(ExecutionStatus, lambda v: v.value)
    return conv


_CONV = None


def converter():
    """The shared cattrs converter for contract types."""
    global _CONV
    if _CONV is None:
        _CONV = _converter()
    return _CONV


class _JsonMixin:
    def to_dict(self) -> dict[str, Any]:
        return converter().unstructure(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        return converter().structure(dict(data), cls)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())  # insertion order kept: units stay in dependency order

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(json.loads(text))


@attrs.define(frozen=True)
class PipelineRef(_JsonMixin):
    """How the step-runner finds the pipeline: an importable module (or a file) and an attribute.

    ``attribute`` names a ``Pipeline`` object or a zero-argument function returning one.
    """

    module: str | None = None
    path: str | None = None
    attribute: str = "pipeline"

    def describe(self) -> str:
        return f"{self.module or self.path}:{self.attribute}"


@attrs.define(frozen=True)
class UnitSpec(_JsonMixin):
    """One execution unit: the steps one job runs, the units it waits for, its resources."""

    name: str
    steps: list[str]
    depends_on: list[str] = attrs.field(factory=list)
    resources: ResourceConfig = attrs.field(factory=ResourceConfig)
    #: output name -> producing step, for every input this unit reads from other units
    inputs: dict[str, str] = attrs.field(factory=dict)
    #: output name -> producing step, for every output this unit produces
    outputs: dict[str, str] = attrs.field(factory=dict)


@attrs.define(frozen=True)
class ReusedUnit(_JsonMixin):
    """A unit of an earlier run that a resumed run does not execute: its outputs are read where
    that run wrote them (``flowyml resume``). Backends never see it as a job."""

    #: the unit as the earlier run had it (``depends_on`` complete, for a later resume's plan)
    unit: UnitSpec
    #: the run whose artifacts (``runs/<run_id>/outputs/...``) and unit result hold this unit's work
    run_id: str


@attrs.define(frozen=True)
class JobSpec(_JsonMixin):
    """Everything a backend needs to run a pipeline; serialisable, identical for every backend.

    Backends turn each unit into one native job running ``unit_command(unit)`` with
    ``unit_env(unit)`` in ``image``, and wire ``depends_on`` into the service's own DAG.
    """

    run_id: str
    pipeline_name: str
    pipeline: PipelineRef
    units: list[UnitSpec]
    artifact_root: str
    image: str | None = None
    env: dict[str, str] = attrs.field(factory=dict)
    context: dict[str, Any] = attrs.field(factory=dict)
    input_names: list[str] = attrs.field(factory=list)
    stack: str | None = None
    labels: dict[str, str] = attrs.field(factory=dict)
    timeout_seconds: float | None = None
    #: the settings the step-runner needs to open the artifact store (endpoint, region), in their
    #: stored form: a value written ``${VAR}`` stays so (:meth:`resolved_store_settings`)
    store_settings: dict[str, str] = attrs.field(factory=dict)
    #: argv prefix that starts the step-runner inside the job: ``flowyml step-runner`` unless the
    #: stack's ``docker.command`` or the orchestrator says otherwise (e.g. ``["python", "-m",
    #: "flowyml.runner"]``), so by default ``flowyml`` must be on the job's ``PATH``
    runner_command: list[str] = attrs.field(factory=lambda: ["flowyml", "step-runner"])
    #: env name -> secret reference (``scheme://ref``, never a value) the step-runner resolves at start-up
    secrets: dict[str, str] = attrs.field(factory=dict)
    #: the run this one resumes; the units of earlier runs it reuses instead of running; the run
    #: whose ``inputs/`` hold the pipeline inputs (None: this run's own)
    resumed_from: str | None = None
    reused: list[ReusedUnit] = attrs.field(factory=list)
    inputs_from: str | None = None

    def unit(self, name: str) -> UnitSpec:
        for u in self.units:
            if u.name == name:
                return u
        raise KeyError(f"job {self.run_id!r} has no unit {name!r}; units: {[u.name for u in self.units]}")

    def producer_run(self, step: str) -> str:
        """The run whose artifacts hold ``step``'s outputs: this one, or the earlier run it reuses."""
        for reused in self.reused:
            if step in reused.unit.steps:
                return reused.run_id
        return self.run_id

    @property
    def spec_uri(self) -> str:
        """Where submit stores this spec for the step-runner to read."""
        from flowyml.orchestrators.layout import RunLayout

        return f"{self.artifact_root.rstrip('/')}/{RunLayout(self.run_id).spec}"

    def unit_command(self, unit: str) -> list[str]:
        """The argv that runs one unit: ``runner_command + ["--job", spec_uri, "--unit", unit]`` (every backend)."""
        self.unit(unit)
        return [*self.runner_command, "--job", self.spec_uri, "--unit", unit]

    def unit_env(self, unit: str) -> dict[str, str]:
        """What to add to the job's environment for one unit: a delta to *merge into* the job's
        own environment (``PATH``, the platform's variables stay), not a whole environment.

        The stack's env plus flowyml's own variables (``FLOWYML_RUN_ID``, ``FLOWYML_UNIT``,
        ``FLOWYML_JOB_SPEC``, ...). Secrets are not in it: ``secrets`` holds references the
        step-runner resolves in the job.
        """
        env = dict(self.env)
        env.update(
            {
                "FLOWYML_RUN_ID": self.run_id,
                "FLOWYML_PIPELINE_NAME": self.pipeline_name,
                "FLOWYML_UNIT": unit,
                "FLOWYML_JOB_SPEC": self.spec_uri,
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.store_settings:
            env[STORE_SETTINGS_ENV] = store_settings_env(self.store_settings)
        return env

    def resolved_store_settings(self) -> dict[str, Any]:
        """The artifact store's settings with their ``${VAR}`` resolved from this process's environment."""
        return resolve_store_settings(self.store_settings)

    def topological_units(self) -> list[UnitSpec]:
        return list(self.units)  # built in dependency order


@attrs.define(frozen=True)
class RunHandle(_JsonMixin):
    """What ``submit`` returns: enough to find the run again from any process.

    ``job_id`` is the id users see (a pipeline job's resource name, a Batch job id, ...);
    ``units`` maps each unit to its native job id where a backend has one per unit.
    ``config`` is the backend config with secrets removed.
    """

    backend: str
    run_id: str
    job_id: str
    units: dict[str, str] = attrs.field(factory=dict)
    metadata: dict[str, Any] = attrs.field(factory=dict)
    config: dict[str, Any] = attrs.field(factory=dict)
    artifact_root: str = ""
    pipeline_name: str = ""
    submitted_at: float = attrs.field(factory=time.time)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunHandle:
        """From JSON: every field is plain data, so no converter is needed (fast re-attach)."""
        return cls(**data)

    def evolve(self, **changes: Any) -> RunHandle:
        return attrs.evolve(self, **changes)


@attrs.define(frozen=True)
class StatusReport(_JsonMixin):
    """A run's status as the backend sees it now, with the native state and any error message."""

    status: ExecutionStatus
    native_state: str | None = None
    message: str | None = None
    units: dict[str, ExecutionStatus] = attrs.field(factory=dict)


@attrs.define(frozen=True)
class LogRecord(_JsonMixin):
    """One log line. ``cursor`` resumes right after this record when passed back to ``logs``.

    ``timestamp`` is seconds since the epoch (a float, as ``time.time()``); FlowyML's dict form
    ``record["timestamp"]`` gives it as ISO 8601 text (``iso_time``).
    """

    timestamp: float
    message: str
    severity: str = "INFO"
    unit: str | None = None
    cursor: str | None = None

    @property
    def iso_time(self) -> str:
        return (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.timestamp)) + f".{int(self.timestamp % 1 * 1000):03d}Z"
        )

    @property
    def step(self) -> str | None:
        return self.unit

    def __getitem__(self, key: str) -> Any:
        """FlowyML's dict form: ``record["message"]``, ``["severity"]``, ``["timestamp"]`` (ISO text), ...."""
        if key == "timestamp":
            return self.iso_time
        if key == "is_finished":
            return False
        if key in ("message", "severity", "unit", "step", "cursor"):
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default
