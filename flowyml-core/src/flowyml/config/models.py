"""The attrs models of ``flowyml.yaml``."""

from __future__ import annotations

import os
from typing import Any

import attrs

from flowyml.core.errors import ConfigError
from flowyml.core.resources import DockerConfig, ResourceConfig

DEFAULT_STACK = "local"


@attrs.define(frozen=True)
class ArtifactStoreConfig:
    """Where a stack keeps artifacts: a URI (``file://``, ``s3://``, ``gs://``, ...) and its settings."""

    uri: str | None = None
    settings: dict[str, str] = attrs.field(factory=dict)


@attrs.define(frozen=True)
class StackConfig:
    """One named stack. ``orchestrator`` is the backend's own config class instance."""

    name: str
    backend: str
    orchestrator: Any
    artifact_store: ArtifactStoreConfig = attrs.field(factory=ArtifactStoreConfig)
    resources: ResourceConfig | None = None
    docker: DockerConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stack with every secret field left out (safe to print or store)."""
        from flowyml.orchestrators.base import redact_config

        return {
            "name": self.name,
            "orchestrator": {"type": self.backend, **redact_config(self.orchestrator)},
            "artifact_store": attrs.asdict(self.artifact_store),
            "resources": attrs.asdict(self.resources) if self.resources else None,
            "docker": _redacted_docker(self.docker),
        }


def _redacted_docker(docker: DockerConfig | None) -> dict[str, Any] | None:
    if docker is None:
        return None
    data = attrs.asdict(docker)
    data["env_vars"] = {k: "***" for k in docker.env_vars}
    return data


@attrs.define(frozen=True)
class FlowymlConfig:
    """All stacks from one ``flowyml.yaml`` (or the built-in default: one ``local`` stack)."""

    path: str | None
    stacks: dict[str, StackConfig]
    default_stack: str = DEFAULT_STACK
    pipeline_module: str | None = None

    def active_stack_name(self, name: str | None = None) -> str:
        return name or os.environ.get("FLOWYML_STACK") or self.default_stack

    def stack(self, name: str | None = None) -> StackConfig:
        """The named stack, else ``$FLOWYML_STACK``, else the default."""
        chosen = self.active_stack_name(name)
        try:
            return self.stacks[chosen]
        except KeyError:
            where = self.path or "the built-in default configuration"
            raise ConfigError(
                f"{where}: no stack named {chosen!r}; stacks: {', '.join(sorted(self.stacks)) or 'none'}"
            ) from None

    def orchestrator(self, name: str | None = None):
        """A ready ``RemoteOrchestrator`` for the stack."""
        from flowyml.orchestrators.base import RemoteOrchestrator

        stack = self.stack(name)
        return RemoteOrchestrator(
            name=stack.name,
            config=stack.orchestrator,
            backend=stack.backend,
            artifact_store=stack.artifact_store.uri,
            store_settings=stack.artifact_store.settings,
            docker_config=stack.docker,
            resources=stack.resources,
            stack=stack.name,
            pipeline_module=self.pipeline_module,
        )
