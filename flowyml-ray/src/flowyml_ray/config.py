"""Settings of the ``ray`` backend (a frozen attrs class; no Ray import)."""

from __future__ import annotations

__all__ = ["RayConfig", "DEFAULT_ADDRESS"]

import os
from typing import Any

import attrs

from flowyml.core.errors import ConfigError

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
_STRATEGIES = ("DEFAULT", "SPREAD")


def _strategy(_inst: object, _attr: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None and value not in _STRATEGIES:
        raise ConfigError(f"ray config: scheduling_strategy must be one of {', '.join(_STRATEGIES)}, got {value!r}")


def _non_negative(_inst: object, attr: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ConfigError(f"ray config: {attr.name} must be >= 0, got {value}")


@attrs.define(frozen=True)
class RayConfig:
    """``ray``: one Ray Job per run on the cluster whose Jobs API (the dashboard) is at ``address``.

    ``address``: ``http://<head>:8265`` (default ``$RAY_ADDRESS``, else ``http://127.0.0.1:8265``);
    KubeRay's head service or a hosted ``https://`` / ``anyscale://`` address work too.
    ``runtime_env``: Ray's runtime environment for the job and its tasks (``pip``,
    ``env_vars``, ``working_dir``, ...). ``python``: the interpreter on the head node that starts
    the driver (it needs ``flowyml-ray``). A ``file://`` artifact store is accepted for a cluster
    on this machine, or when the store's settings say ``shared: "true"`` (a mount every node
    sees). ``scheduling_strategy``: ``DEFAULT`` (pack) or
    ``SPREAD`` (spread units over the nodes). ``accelerator_resources`` maps a GPU type to a
    custom resource the nodes advertise, for clusters that do not label ``accelerator_type``.
    ``task_retries``: Ray's ``max_retries`` for a unit whose worker died (steps are not
    re-run on a step error). ``auth_token`` is sent as ``Authorization: Bearer``.
    """

    address: str | None = None
    runtime_env: dict[str, Any] = attrs.field(factory=dict)
    python: str = "python"
    scheduling_strategy: str | None = attrs.field(default=None, validator=_strategy)
    accelerator_resources: dict[str, str] = attrs.field(factory=dict)
    task_retries: int = attrs.field(default=0, validator=_non_negative)
    submission_id_prefix: str = "flowyml"
    dashboard_url: str | None = None
    metadata: dict[str, str] = attrs.field(factory=dict)
    verify_tls: bool = True
    log_poll_interval: float = attrs.field(default=1.0, validator=_non_negative)
    auth_token: str | None = attrs.field(default=None, metadata={"secret": True}, repr=False)

    def jobs_address(self) -> str:
        """The Jobs API address this config talks to."""
        return (self.address or os.environ.get("RAY_ADDRESS") or DEFAULT_ADDRESS).rstrip("/")

    def dashboard(self) -> str:
        """The dashboard URL users open (``dashboard_url``, else the Jobs API address when it is HTTP)."""
        if self.dashboard_url:
            return self.dashboard_url.rstrip("/")
        address = self.jobs_address()
        return address if address.startswith(("http://", "https://")) else ""

    def validate(self) -> None:
        address = self.jobs_address()
        if "://" not in address:
            raise ConfigError(
                f"ray config: address {address!r} needs a scheme: use the dashboard's Jobs API address, "
                "e.g. http://<head node>:8265 (not the GCS port 6379 or ray://)"
            )
        if address.startswith("ray://"):
            raise ConfigError(
                f"ray config: address {address!r} is a Ray Client address; flowyml uses the Jobs API: "
                "http://<head node>:8265"
            )
        if not isinstance(self.runtime_env, dict):
            raise ConfigError("ray config: runtime_env must be a mapping (pip, env_vars, working_dir, ...)")
