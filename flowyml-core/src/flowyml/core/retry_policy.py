"""``OrchestratorRetryPolicy``: run-level retries, with backoff, of the steps that failed.

Step-level ``@step(retry=n)`` retries one function call at once. A run-level policy waits
(``initial_delay``, times ``multiplier`` per attempt, at most ``max_delay``) and then runs the
failed steps again — with the outputs of the steps that succeeded kept — up to ``max_attempts``
attempts in all. In-process, pass it to ``pipeline.run(retry_policy=...)``; in the step-runner it
comes from ``$FLOWYML_RETRY_POLICY`` (see :meth:`to_env`) and re-runs a failed unit's steps. A unit
whose job died outside any step is resumed by the process waiting for the run
(:mod:`flowyml.orchestrators.retries`).
"""

from __future__ import annotations

__all__ = ["OrchestratorRetryPolicy", "ENV_VAR"]

import json
import os
import random
from collections.abc import Mapping
from typing import Any

import attrs

ENV_VAR = "FLOWYML_RETRY_POLICY"


def _statuses(value: Any) -> tuple[str, ...]:
    if value is None:
        return ("FAILED",)
    if isinstance(value, str):
        value = [value]
    return tuple(str(getattr(v, "name", v)).upper() for v in value)


@attrs.define(frozen=True)
class OrchestratorRetryPolicy:
    """``OrchestratorRetryPolicy(max_attempts=3, initial_delay=60.0, max_delay=600.0, multiplier=2.0)``.

    ``retry_on_status`` lists the run states that are retried (default ``["FAILED"]``; ``STOPPED``
    covers a step that raised ``StopExecution``). ``jitter`` adds up to 10% to each delay.
    """

    max_attempts: int = 3
    initial_delay: float = 60.0
    max_delay: float = 600.0
    multiplier: float = 2.0
    retry_on_status: tuple[str, ...] = attrs.field(default=None, converter=_statuses)
    jitter: bool = False

    def __attrs_post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"OrchestratorRetryPolicy: max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial_delay < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise ValueError("OrchestratorRetryPolicy: delays must be >= 0 and multiplier >= 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        wait = min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1))
        return wait * (1 + random.random() / 10) if self.jitter else wait

    def should_retry(self, status: Any, attempt: int) -> bool:
        """Whether a run that ended ``status`` after ``attempt`` attempts gets another one."""
        name = str(getattr(status, "name", status)).upper()
        return attempt < self.max_attempts and name in self.retry_on_status

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["retry_on_status"] = list(self.retry_on_status)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrchestratorRetryPolicy:
        return cls(**dict(data))

    def to_env(self) -> dict[str, str]:
        """The environment entry that carries this policy to the step-runner."""
        return {ENV_VAR: json.dumps(self.to_dict())}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OrchestratorRetryPolicy | None:
        text = (os.environ if environ is None else environ).get(ENV_VAR)
        if not text:
            return None
        try:
            return cls.from_dict(json.loads(text))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"${ENV_VAR}: not a retry policy ({exc}); expected the JSON of to_env()") from None
