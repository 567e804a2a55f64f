"""FlowyML's module name for :class:`SubmissionResult` (what ``run_pipeline`` returns on a backend)."""

from __future__ import annotations

from typing import Any

__all__ = ["SubmissionResult"]  # noqa: F822 (module __getattr__)


def __getattr__(name: str) -> Any:
    if name == "SubmissionResult":  # loaded on use: the orchestrators import core, not the other way round
        from flowyml.orchestrators.submission import SubmissionResult

        return SubmissionResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
