"""The attrs models of ``flowyml.yaml``."""

from __future__ import annotations

__all__ = ["FlowymlConfig", "StackConfig", "ArtifactStoreConfig", "DEFAULT_STACK"]

import os
from typing import TYPE_CHECKING, Any

import attrs

from flowyml.config.errors import ConfigFieldError
from flowyml.core.errors import ConfigError, PluginError, UnknownBackendError
from flowyml.core.resources import DockerConfig, ResourceConfig
from flowyml.plugins.install import install_hint

if TYPE_CHECKING:
    from flowyml.orchestrators import RemoteOrchestrator

DEFAULT_STACK = "local"


@attrs.define(frozen=True)
class ArtifactStoreConfig:
    """Where a stack keeps artifacts: a URI (``file://``, ``s3://``, ``gs://``, ...) and its settings."""

    uri: str | None = None
    settings: dict[str, str] = attrs.field(factory=dict)


@attrs.define(frozen=True)
class StackConfig:
    """One named stack. ``orchestrator`` is the backend's own config class instance.

    A stack whose backend is not installed here has ``orchestrator=None`` and says why in
    ``unavailable`` (``needs flowyml[gcp]``); using it raises, listing it does not.
    """

    name: str
    backend: str
    orchestrator: Any
    artifact_store: ArtifactStoreConfig = attrs.field(factory=ArtifactStoreConfig)
    resources: ResourceConfig | None = None
    docker: DockerConfig | None = None
    unavailable: str | None = None
    reason: str | None = attrs.field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The stack with every secret field left out (safe to print or store)."""
        from flowyml.orchestrators.configs import redact_config

        doc = {
            "name": self.name,
            "orchestrator": {"type": self.backend, **redact_config(self.orchestrator)},
            "artifact_store": attrs.asdict(self.artifact_store),
            "resources": attrs.asdict(self.resources) if self.resources else None,
            "docker": _redacted_docker(self.docker),
        }
        if self.unavailable:
            doc["unavailable"] = self.unavailable
        return doc


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
            source = "" if name else " (from $FLOWYML_STACK)" if os.environ.get("FLOWYML_STACK") else ""
            raise ConfigFieldError(
                "stacks",
                f"one of: {', '.join(sorted(self.stacks)) or 'none'}",
                f"no stack named {chosen!r}{source}",
                file=self.path or "the built-in default configuration",
            ) from None

    def validate_stack(self, name: str | None = None) -> StackConfig:
        """The stack, once its backend is installed and its settings pass the backend's ``validate()``.

        Only fields are checked: no SDK client, credential chain or network call is made.
        """
        stack = self.stack(name)
        file = self.path or "configuration"
        key = f"stacks.{stack.name}.orchestrator"
        if stack.orchestrator is None:
            raise _unavailable_error(f"{file}: {key}.type: {stack.unavailable}: {stack.reason}")
        check = getattr(stack.orchestrator, "validate", None)
        if callable(check):
            try:
                check()
            except ConfigFieldError as exc:
                raise exc.located(file, key) from None
            except (ConfigError, TypeError, ValueError) as exc:
                raise ConfigError(f"{file}: {key}: {exc}") from None
        _check_store_scheme(stack, file)
        # Check the store the way a submit will, unless only the backend can name it (Azure ML asks its workspace).
        if stack.artifact_store.uri or not hasattr(stack.orchestrator, "default_artifact_root"):
            try:
                self._build(stack).check_store_reachable()
            except ConfigError as exc:
                raise ConfigError(f"{file}: stacks.{stack.name}.artifact_store.uri: {exc}") from None
        return stack

    def orchestrator(self, name: str | None = None) -> RemoteOrchestrator:
        """A ready ``RemoteOrchestrator`` for the stack (validated first, before any SDK is touched)."""
        return self._build(self.validate_stack(name))

    def _build(self, stack: StackConfig) -> RemoteOrchestrator:
        from flowyml.orchestrators import RemoteOrchestrator
        from flowyml.secrets import templates_of

        return RemoteOrchestrator(
            name=stack.name,
            config=stack.orchestrator,
            backend=stack.backend,
            artifact_store=stack.artifact_store.uri,
            store_settings=stack.artifact_store.settings,
            store_templates=templates_of(stack.artifact_store),
            docker_config=stack.docker,
            resources=stack.resources,
            stack=stack.name,
            pipeline_module=self.pipeline_module,
        )


def _check_store_scheme(stack: StackConfig, file: str) -> None:
    """The artifact store's URI scheme must be one an installed plugin provides (``gs://`` needs flowyml[gcp])."""
    uri = stack.artifact_store.uri
    if not uri or "://" not in uri:
        return
    from flowyml.plugins.manager import KNOWN_BACKENDS, KNOWN_SCHEMES, get_plugin_manager

    scheme = uri.split("://", 1)[0]
    pm = get_plugin_manager()
    stores = pm.stores
    if scheme in stores:
        return
    extra = KNOWN_SCHEMES.get(scheme)
    if any(KNOWN_BACKENDS.get(b) == extra for b in pm.backends):
        extra = None  # that extra is installed: it just does not store this scheme
    installed = ", ".join(f"{s}://" for s in sorted(stores)) or "none"
    label = f"needs flowyml[{extra}]" if extra else f"no installed plugin stores {scheme}:// artifacts"
    install = f"; install it with: {install_hint(extra)}" if extra else ""
    raise _unavailable_error(
        f"{file}: stacks.{stack.name}.artifact_store.uri: {label}: installed schemes: {installed}{install}"
    )


def _unavailable_error(message: str) -> PluginError:
    return UnknownBackendError(message)
