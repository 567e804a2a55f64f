"""``PipelineResult``: what ``pipeline.run()`` returns."""

from __future__ import annotations

__all__ = ["PipelineResult"]

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import attrs

from flowyml.core.errors import StepFailedError
from flowyml.core.executor import ExecutionResult

#: ``state`` of a run that was handed to an orchestrator instead of running here.
SUBMITTED = "submitted"
DRY_RUN = "dry_run"

#: ``PipelineResult.outline()``: (pipeline, run id, duration, (state, start, end, metadata), step tuples).
RunOutline = tuple[
    str, str, float, tuple[str | None, datetime, datetime | None, dict[str, Any]], tuple[tuple[Any, ...], ...]
]


class PipelineResult(Mapping[str, Any]):
    """The outcome of a run: ``success``, ``state``, ``run_id``, outputs, per-step results.

    ``result["model"]`` and ``result.outputs["model"]`` are the value of the output named
    ``model``; a step's return value is also there under the step's name. A missing name gives
    ``None``, as in FlowyML (``"model" in result`` tells the two apart).
    """

    def __init__(
        self,
        pipeline_name: str,
        run_id: str,
        step_results: dict[str, ExecutionResult] | None = None,
        outputs: dict[str, Any] | None = None,
        duration_seconds: float = 0.0,
        *,
        state: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        metadata: Mapping[str, Any] | None = None,
        submission_result: Any = None,
    ) -> None:
        self.pipeline_name = pipeline_name
        self.run_id = run_id
        self.step_results = step_results or {}
        self.outputs = outputs or {}
        self.duration_seconds = duration_seconds
        self.start_time = start_time or datetime.now()
        self.end_time = end_time
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.submission_result = submission_result
        self._state = state

    # -- how it went ------------------------------------------------------------------------
    @property
    def success(self) -> bool:
        if self._state is not None and self._state not in (SUBMITTED, DRY_RUN):
            return self._state == "completed"  # a finished remote run: its state decides
        return all(r.success for r in self.step_results.values())

    @property
    def stopped(self) -> bool:
        return any(r.stopped for r in self.step_results.values())

    @property
    def state(self) -> str:
        """``completed``, ``failed``, ``stopped``, or ``submitted`` / ``dry_run`` when nothing ran here."""
        if self._state is not None:
            return self._state
        if self.success:
            return "completed"
        return "stopped" if self.stopped else "failed"

    @property
    def remote_job_id(self) -> str | None:
        return getattr(self.submission_result, "job_id", None)

    @property
    def resource_config(self) -> Any:
        return self.metadata.get("resources")

    @property
    def docker_config(self) -> Any:
        return self.metadata.get("docker")

    @property
    def failed_steps(self) -> list[str]:
        return [name for name, r in self.step_results.items() if not r.success]

    @property
    def error(self) -> str | None:
        """The first failed step's error, with its traceback."""
        for r in self.step_results.values():
            if not r.success:
                return f"{r.step_name}: {r.error}"
        return None

    def raise_for_failure(self) -> PipelineResult:
        """Raise :class:`StepFailedError` for the first failed step; return self otherwise."""
        for r in self.step_results.values():
            if not r.success:
                raise StepFailedError(r.step_name, r.error or "failed")
        return self

    # -- outputs ----------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self.outputs.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self.outputs

    def get(self, key: str, default: Any = None) -> Any:
        return self.outputs.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.outputs)

    def __len__(self) -> int:
        return len(self.outputs)

    def __repr__(self) -> str:
        state = "success" if self.state == "completed" else self.state
        if self.state in ("failed", "stopped"):
            state = f"{self.state}: {self.failed_steps}"
        return f"PipelineResult({self.pipeline_name!r}, run_id={self.run_id!r}, {state})"

    # -- reports ----------------------------------------------------------------------------
    def outline(self) -> RunOutline:
        """What ``to_dict`` and ``summary`` describe, without the outputs: cheap to keep (see ``from_outline``)."""
        steps = tuple(
            (r.step_name, r.success, r.error, r.duration_seconds, r.retries, r.cached, r.skipped, r.stopped)
            for r in self.step_results.values()
        )
        meta = (self._state, self.start_time, self.end_time, self.metadata)
        return (self.pipeline_name, self.run_id, self.duration_seconds, meta, steps)

    @classmethod
    def from_outline(cls, outline: RunOutline) -> PipelineResult:
        """The result an :meth:`outline` describes (no outputs; steps' ``output`` is ``None``)."""
        name, run_id, duration, (state, start, end, meta), steps = outline
        results = {
            s[0]: ExecutionResult(
                s[0], s[1], error=s[2], duration_seconds=s[3], retries=s[4], cached=s[5], skipped=s[6], stopped=s[7]
            )
            for s in steps
        }
        return cls(name, run_id, results, None, duration, state=state, start_time=start, end_time=end, metadata=meta)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record of the run (no output values; see ``outputs`` for those)."""
        meta = {k: _plain(v) for k, v in self.metadata.items()}
        meta.setdefault("resources", None)
        meta.setdefault("docker", None)
        meta["remote_job_id"] = self.remote_job_id
        return {
            "run_id": self.run_id,
            "pipeline_name": self.pipeline_name,
            "success": self.success,
            "state": self.state,
            "start_time": self.start_time.isoformat(),
            "end_time": self.end_time.isoformat() if self.end_time else None,
            "duration_seconds": self.duration_seconds,
            "metadata": meta,
            "steps": {
                name: {
                    "success": r.success,
                    "status": r.status,
                    "duration": r.duration_seconds,
                    "cached": r.cached,
                    "skipped": r.skipped,
                    "retries": r.retries,
                    "error": r.error,
                }
                for name, r in self.step_results.items()
            },
        }

    def summary(self) -> str:
        """A few lines for people: the status, then one line per step (with its error's first line)."""
        if self.state == SUBMITTED:
            status = f"⏳ SUBMITTED (job: {self.remote_job_id})"
        elif self.state == DRY_RUN:
            status = "DRY RUN (nothing ran)"
        elif self.state == "completed":
            status = "✓ SUCCESS"
        else:
            status = f"✗ {self.state.upper()}"
        lines = [
            f"Pipeline: {self.pipeline_name}",
            f"Run ID: {self.run_id}",
            f"Status: {status}",
            f"Duration: {self.duration_seconds:.2f}s",
            "",
            "Steps:",
        ]
        marks = {"ok": "✓", "cached": "✓", "skipped": "⏭", "stopped": "■", "failed": "✗"}
        for name, r in self.step_results.items():
            extra = {"cached": " (cached)", "skipped": " (skipped)", "stopped": " (stopped)"}.get(r.status, "")
            retries = f" [{r.retries} retries]" if r.retries else ""
            lines.append(f"  {marks[r.status]} {name}: {r.duration_seconds:.2f}s{extra}{retries}")
            if r.error and not r.success:
                lines.append(f"     Error: {r.error.splitlines()[0]}")
        return "\n".join(lines)


def _plain(value: Any) -> Any:
    """Config objects as dicts, for ``to_dict``."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if attrs.has(type(value)):
        return attrs.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
