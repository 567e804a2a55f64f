"""Turning a credential setting into an azure-core ``TokenCredential`` (azure-identity loads lazily)."""

from __future__ import annotations

import importlib
from typing import Any

from flowyml.core.errors import ConfigError
from flowyml.plugins.clients import ClientCache

_OBJECTS: dict[str, Any] = {}  # credential objects given in code (dict assignment is atomic)
_CACHE: ClientCache[Any] = ClientCache()


def register_credential(credential: Any) -> str:
    """Keep a credential object for this process; returns the setting that refers to it.

    Used when a ``TokenCredential`` is passed to :class:`AzureMLOrchestrator` in code. The object
    cannot travel to another process: re-attaching there uses that process's own setting.
    """
    if not callable(getattr(credential, "get_token", None)):
        raise ConfigError(f"credential {credential!r} has no get_token(): pass an azure-core TokenCredential")
    key = f"object:{id(credential)}"
    _OBJECTS[key] = credential
    return key


def resolve_credential(setting: str, authority_host: str | None = None) -> Any:
    """The credential for ``setting`` (see :class:`~flowyml_azure.config.AzureMLConfig`), cached."""
    if setting in _OBJECTS:
        return _OBJECTS[setting]
    return _CACHE.get((setting, authority_host), lambda: _build(setting, authority_host))


def _build(setting: str, authority_host: str | None) -> Any:
    if setting.startswith("object:"):
        raise ConfigError(
            "the Azure credential object given in code belongs to the process that created it; "
            "pass credential= again, or configure credential as a mode or a 'module:factory' path"
        )
    kwargs = {"authority": authority_host} if authority_host else {}
    if ":" in setting:
        module_name, _, attribute = setting.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"azureml credential {setting!r} cannot be imported: {exc}") from exc
        is_factory = isinstance(target, type) or (callable(target) and not hasattr(target, "get_token"))
        credential = target() if is_factory else target
        if isinstance(credential, type) or not callable(getattr(credential, "get_token", None)):
            raise ConfigError(f"azureml credential {setting!r} did not give a TokenCredential")
        return credential
    import azure.identity as identity

    if setting == "default":
        return identity.DefaultAzureCredential(**kwargs)
    if setting == "cli":
        return identity.AzureCliCredential()
    if setting == "managed_identity":
        return identity.ManagedIdentityCredential()
    if setting == "environment":
        return identity.EnvironmentCredential(**kwargs)
    if setting == "workload_identity":
        return identity.WorkloadIdentityCredential(**kwargs)
    raise ConfigError(f"azureml: unknown credential setting {setting!r}")
