"""The backend's settings: the ``orchestrator:`` section of a ``httpjobs`` stack in flowyml.yaml."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

import attrs

TOKEN_ENV = "HTTPJOBS_TOKEN"


def token_from_env() -> str | None:
    """The default token: ``$HTTPJOBS_TOKEN`` (so a re-attaching process finds it too)."""
    return os.environ.get(TOKEN_ENV) or None


def _check_url(_instance: Any, _attribute: Any, value: str) -> None:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"url: expected http(s)://host:port, found {value!r}")


@attrs.define(frozen=True)
class HttpJobsConfig:
    """Where the job server is and how to talk to it.

    ``token`` is secret: it is never written to run metadata or printed by ``flowyml stack
    show``. Put ``token: ${HTTPJOBS_TOKEN}`` in flowyml.yaml; when it is left out (or a run is
    re-attached from another process, whose saved config has no secrets) it is read from
    ``$HTTPJOBS_TOKEN``.
    """

    url: str = attrs.field(default="http://127.0.0.1:8787", validator=_check_url)
    token: str | None = attrs.field(factory=token_from_env, repr=False, metadata={"secret": True})
    #: seconds one HTTP request may take
    request_timeout: float = attrs.field(default=10.0, validator=attrs.validators.gt(0))
    #: seconds between polls while following logs
    poll_interval: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))

    def validate(self) -> None:
        """Called by ``orchestrator.validate()`` / ``flowyml stack validate``; the field validators did the work."""
