"""``HttpJobsOrchestrator``: the Python facade, a thin subclass of core's ``RemoteOrchestrator``."""

from __future__ import annotations

from typing import Any

from flowyml.orchestrators import RemoteOrchestrator
from flowyml_httpjobs.config import HttpJobsConfig, token_from_env


class HttpJobsOrchestrator(RemoteOrchestrator):
    """``HttpJobsOrchestrator(url=..., artifact_store="file:///shared/artifacts").run_pipeline(p)``.

    Exactly the same code path as a ``type: httpjobs`` stack in flowyml.yaml.
    """

    backend = "httpjobs"

    def __init__(
        self,
        name: str = "httpjobs",
        url: str = "http://127.0.0.1:8787",
        token: str | None = None,
        *,
        request_timeout: float = 10.0,
        artifact_store: str | None = None,
        **kwargs: Any,
    ) -> None:
        config = HttpJobsConfig(
            url=url, token=token if token is not None else token_from_env(), request_timeout=request_timeout
        )
        super().__init__(name, config, artifact_store=artifact_store, **kwargs)
