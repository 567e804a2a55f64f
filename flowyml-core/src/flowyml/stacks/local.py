"""``LocalOrchestrator``: the remote lifecycle (submit, status, logs, cancel, re-attach) on this machine."""

from __future__ import annotations

from typing import Any

from flowyml.backends.local.plugin import LocalConfig
from flowyml.orchestrators import RemoteOrchestrator


class LocalOrchestrator(RemoteOrchestrator):
    """Runs each execution unit through the step-runner in a local subprocess, detached.

    >>> result = LocalOrchestrator().run_pipeline(pipeline, run_id="run-1")   # returns at once
    >>> result.wait_for_completion()
    """

    backend = "local"

    def __init__(
        self,
        name: str = "local",
        max_parallel: int = 0,
        grace_period: float = 10.0,
        python: str | None = None,
        workdir: str | None = None,
        **kwargs: Any,
    ) -> None:
        config = LocalConfig(max_parallel=max_parallel, grace_period=grace_period, python=python, workdir=workdir)
        super().__init__(name, config, **kwargs)


__all__ = ["LocalConfig", "LocalOrchestrator"]
