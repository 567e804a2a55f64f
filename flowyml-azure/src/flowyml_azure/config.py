"""Settings of the ``azureml`` backend (SDK-free; ``flowyml.yaml``'s ``orchestrator:`` section).

No field holds a secret: authentication goes through ``credential`` (a mode of the azure-identity
chain, or an importable factory), so the whole config can travel in run handles and re-attach
from any process.
"""

from __future__ import annotations

__all__ = ["AzureMLConfig", "CREDENTIAL_MODES", "CLOUD_ARM_ENDPOINTS"]

import re

import attrs

from flowyml.config.errors import ConfigFieldError, describe

#: Well-known clouds and their resource manager (ARM) endpoints.
CLOUD_ARM_ENDPOINTS = {
    "AzureCloud": "https://management.azure.com/",
    "AzureChinaCloud": "https://management.chinacloudapi.cn/",
    "AzureUSGovernment": "https://management.usgovcloudapi.net/",
}
#: Credential modes understood besides ``module:attribute`` factories.
CREDENTIAL_MODES = ("default", "cli", "managed_identity", "environment", "workload_identity")

_REQUIRED = {
    "subscription_id": "the Azure subscription id",
    "resource_group": "the workspace's resource group",
    "workspace_name": "the Azure ML workspace name",
    "compute": "the default compute cluster",
}
_COMPUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,31}$")


def _non_negative(_inst: object, attr: attrs.Attribute, value: float) -> None:
    if value < 0:
        raise ValueError(f"{attr.name} must be >= 0, got {value}")


@attrs.define(frozen=True)
class AzureMLConfig:
    """Where and how flowyml runs jobs in an Azure ML workspace.

    * ``subscription_id``, ``resource_group``, ``workspace_name``: the workspace.
    * ``compute``: the default compute cluster; ``unit_compute`` (unit -> cluster) and
      ``gpu_compute`` (for units that ask for GPUs) override it per unit.
    * ``instance_count`` / ``unit_instance_count``: nodes per job (distributed units).
    * ``environment``: a registered environment (``azureml:name:version``) to use instead of the
      stack's ``docker.image`` (which becomes an anonymous environment).
    * ``experiment_name``: default: the pipeline's name. ``tags``: added to every job.
    * ``credential``: ``default`` (azure-identity's DefaultAzureCredential), ``cli``,
      ``managed_identity``, ``environment``, ``workload_identity``, or ``package.module:factory``
      (a callable returning a ``TokenCredential``, or the credential itself).
    * ``cloud`` (``AzureCloud``, ``AzureChinaCloud``, ``AzureUSGovernment``) or ``arm_endpoint``
      (any resource manager URL: Azure Stack, private clouds, tests), with ``authority_host``,
      ``aml_audience`` and ``storage_suffix`` for such clouds.
    * ``ca_bundle``: a PEM file to trust for every HTTPS call (TLS-inspecting proxies, tests).
    * ``log_poll_interval``: seconds between log polls when following a run.
    """

    subscription_id: str = ""
    resource_group: str = ""
    workspace_name: str = ""
    compute: str = ""
    experiment_name: str | None = None
    environment: str | None = None
    instance_count: int = attrs.field(default=1, validator=attrs.validators.ge(1))
    unit_compute: dict[str, str] = attrs.field(factory=dict)
    unit_instance_count: dict[str, int] = attrs.field(factory=dict)
    gpu_compute: str | None = None
    tags: dict[str, str] = attrs.field(factory=dict)
    credential: str = "default"
    cloud: str | None = None
    arm_endpoint: str | None = None
    authority_host: str | None = None
    aml_audience: str = "https://ml.azure.com/"
    storage_suffix: str = "core.windows.net"
    ca_bundle: str | None = None
    log_poll_interval: float = attrs.field(default=5.0, validator=_non_negative)

    def validate(self) -> None:
        """Raise :class:`ConfigFieldError` naming the first field that cannot work.

        Fields only: no credential is built and no Azure API is called (the default datastore of a
        stack without ``artifact_store`` is looked up when a run is submitted, not here).
        """
        for field, what in _REQUIRED.items():
            if not getattr(self, field):
                raise ConfigFieldError.missing(field, what)
        computes = [("compute", self.compute), *((f"unit_compute.{u}", c) for u, c in self.unit_compute.items())]
        if self.gpu_compute is not None:
            computes.append(("gpu_compute", self.gpu_compute))
        for where, compute in computes:
            if not _COMPUTE_NAME.match(compute):
                raise ConfigFieldError(
                    where, "a compute name (a letter, then letters, digits or '-'; at most 32)", describe(compute)
                )
        if self.cloud and self.arm_endpoint:
            raise ConfigFieldError(
                "arm_endpoint", "either cloud or arm_endpoint, not both", describe(self.arm_endpoint)
            )
        if self.cloud and self.cloud not in CLOUD_ARM_ENDPOINTS:
            raise ConfigFieldError("cloud", f"one of {', '.join(CLOUD_ARM_ENDPOINTS)}", describe(self.cloud))
        if self.arm_endpoint and not self.arm_endpoint.startswith("https://"):
            raise ConfigFieldError("arm_endpoint", "an https:// URL", describe(self.arm_endpoint))
        if self.credential not in CREDENTIAL_MODES and ":" not in self.credential:
            raise ConfigFieldError(
                "credential", f"one of {', '.join(CREDENTIAL_MODES)} or a 'package.module:factory' path",
                describe(self.credential),
            )  # fmt: skip

    @property
    def resource_manager(self) -> str:
        """The ARM endpoint, with a trailing slash."""
        endpoint = self.arm_endpoint or CLOUD_ARM_ENDPOINTS[self.cloud or "AzureCloud"]
        return endpoint.rstrip("/") + "/"

    @property
    def workspace_path(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.workspace_name}"
        )

    def default_artifact_root(self) -> str:
        """The workspace's default datastore (read from Azure ML) when a stack names no store."""
        from flowyml_azure.workspace import default_store_root

        return default_store_root(self)

    def compute_for(self, unit: str, gpu_count: int = 0) -> str:
        """The compute target of one unit."""
        if unit in self.unit_compute:
            return self.unit_compute[unit]
        if gpu_count and self.gpu_compute:
            return self.gpu_compute
        return self.compute

    def instances_for(self, unit: str) -> int:
        return int(self.unit_instance_count.get(unit, self.instance_count))
