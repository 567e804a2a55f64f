"""``RunLayout``: where a run keeps its things in the artifact store — the one owner of those keys.

::

    runs/<run id>/job.json                    the job spec every unit reads (written create-only)
    runs/<run id>/inputs/<name>/              pipeline inputs (artifacts)
    runs/<run id>/outputs/<step>/<name>/      step outputs (artifacts)
    runs/<run id>/units/<unit>.json           each unit's result (UnitResult), written by the step-runner
    runs/<run id>/outcome.json                how a run executed in-process ended (written when it ends)
    runs/<run id>/submitter.json              which process owns submitting a scheduled firing's run (create-only)

Names become single key components: run ids, step and unit names as they are (validated), output
names percent-encoded, so FlowyML's asset-path names (``data/raw``) stay one component.
"""

from __future__ import annotations

__all__ = ["RunLayout", "UnitResult", "StepRecord", "read_unit_result", "read_unit_results"]

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import attrs

from flowyml.core.errors import ArtifactError, ArtifactNotFoundError

if TYPE_CHECKING:
    from flowyml.core.executor import ExecutionResult

RUNS = "runs"


def safe_component(value: str, what: str) -> str:
    """A run id / step / unit name used as one key component: no separators, no ``..``, no NUL."""
    if not value or "/" in value or "\\" in value or value in (".", "..") or "\x00" in value:
        raise ArtifactError(f"invalid {what} {value!r}: it is used in artifact paths")
    return value


def encode_name(name: str, what: str = "output name") -> str:
    """An output/input name as one key component: ``data/raw`` -> ``data%2Fraw``.

    Asset-path names are allowed; ``..`` segments, absolute paths and NUL are refused.
    """
    if not name or "\x00" in name or name.startswith("/") or any(p in (".", "..") for p in name.split("/")):
        raise ArtifactError(f"invalid {what} {name!r}: use relative names without '.' or '..' segments")
    return quote(name, safe="-_.~")


@attrs.define(frozen=True)
class RunLayout:
    """The keys of one run, relative to the artifact store's root."""

    run_id: str = attrs.field(validator=lambda _i, _a, v: safe_component(v, "run id"))

    @property
    def root(self) -> str:
        return f"{RUNS}/{self.run_id}"

    @property
    def spec(self) -> str:
        return f"{self.root}/job.json"

    @property
    def outcome(self) -> str:
        return f"{self.root}/outcome.json"

    @property
    def submitter(self) -> str:
        """The claim of the one launcher that submits a firing's run (a firing delivered twice starts two)."""
        return f"{self.root}/submitter.json"

    @property
    def units_prefix(self) -> str:
        return f"{self.root}/units/"

    def input(self, name: str) -> str:
        return f"{self.root}/inputs/{encode_name(name, 'input name')}"

    def output(self, step: str, name: str) -> str:
        return f"{self.root}/outputs/{safe_component(step, 'step name')}/{encode_name(name)}"

    def unit_result(self, unit: str) -> str:
        return f"{self.units_prefix}{safe_component(unit, 'unit name')}.json"

    @staticmethod
    def artifact_root_of(spec_uri: str) -> str:
        """The artifact root of a job spec URI (``<root>/runs/<id>/job.json``)."""
        head, sep, tail = spec_uri.rpartition(f"/{RUNS}/")
        if not sep or not tail.endswith("/job.json") or tail.count("/") != 1:
            raise ArtifactError(f"job spec URI {spec_uri!r} is not <artifact root>/runs/<run id>/job.json")
        return head


@attrs.define(frozen=True)
class StepRecord:
    """What one step of a unit did."""

    name: str
    success: bool
    skipped: bool = False
    cached: bool = False
    error: str | None = None
    duration_seconds: float = 0.0
    artifacts: dict[str, str] = attrs.field(factory=dict)

    @classmethod
    def of(cls, result: ExecutionResult) -> StepRecord:
        """The record of a step the executor ran."""
        return cls(
            name=result.step_name,
            success=result.success,
            skipped=result.skipped,
            cached=result.cached,
            error=result.error,
            duration_seconds=result.duration_seconds,
            artifacts=dict(result.artifact_uris),
        )


@attrs.define(frozen=True)
class UnitResult:
    """The document the step-runner writes when a unit ends (``runs/<id>/units/<unit>.json``).

    ``error`` is one line naming the failing step; ``started_at``/``finished_at`` are epoch
    seconds; ``exit_code`` is the runner's exit code where the writer knows it.
    """

    unit: str
    success: bool
    error: str | None = None
    steps: list[StepRecord] = attrs.field(factory=list)
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> UnitResult:
        steps = [StepRecord(**s) for s in doc.get("steps") or []]
        known = {f.name for f in attrs.fields(cls)} - {"steps"}
        return cls(steps=steps, **{k: v for k, v in doc.items() if k in known})

    def step(self, name: str) -> StepRecord | None:
        return next((s for s in self.steps if s.name == name), None)


def read_unit_result(store: Any, run_id: str, unit: str) -> UnitResult | None:
    """A unit's result, or None if the unit has not written one (not run, or died first)."""
    try:
        return UnitResult.from_dict(store.read_json(RunLayout(run_id).unit_result(unit)))
    except ArtifactNotFoundError:
        return None


def read_unit_results(store: Any, run_id: str) -> dict[str, UnitResult]:
    """Every unit result the run has written so far, by unit name."""
    layout = RunLayout(run_id)
    results = {}
    for key in store.storage.list_keys(layout.units_prefix):
        if key.endswith(".json"):
            result = UnitResult.from_dict(store.read_json(key))
            results[result.unit] = result
    return results


def join_errors(native: str | None, step_error: str | None) -> str | None:
    """The service's reason and the step-runner's, once each: the one place a failure message is joined."""
    if not step_error:
        return native
    if not native or step_error in native:
        return native or step_error
    return f"{native}; {step_error}"


def run_error(store: Any, run_id: str) -> str | None:
    """The first failing unit's error as the step-runner recorded it, or None."""
    for result in read_unit_results(store, run_id).values():
        if not result.success and result.error:
            return f"unit {result.unit!r}: {result.error}"
    return None
