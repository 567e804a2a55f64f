"""Backend configs: from mappings (with key-path errors), to secret-free dicts, and from the stack."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import attrs

from flowyml.plugins.types import RunHandle

log = logging.getLogger("flowyml.orchestrator")

_SCALARS = {f"{t}{opt}" for t in ("str", "int", "float", "bool") for opt in ("", " | None")}


def redact_config(config: Any) -> dict[str, Any]:
    """The config as a dict that is safe to store: fields marked ``metadata={"secret": True}``
    removed, and fields written with ``${...}`` as written (the template, not the value).

    Literal ``${`` in other values is written ``$${``, so :func:`flowyml.secrets.resolve_templates`
    gives back exactly the config (the values from ``${...}`` resolved again where it runs).
    """
    if config is None:
        return {}
    if not attrs.has(type(config)):
        return dict(config)
    from flowyml.plugins.types import converter
    from flowyml.secrets import escape, templates_of

    data: dict[str, Any] = converter().unstructure(config)
    templates = templates_of(config)
    for field in attrs.fields(type(config)):
        if field.metadata.get("secret"):
            data.pop(field.name, None)
        elif field.name in data:
            data[field.name] = templates[field.name] if field.name in templates else escape(data[field.name])
    return data


def stored_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """A config stored by :func:`redact_config`, with its ``${...}`` resolved in this process."""
    from flowyml.secrets import resolve_templates

    return resolve_templates(data)


def structure_config(config_class: type, data: Mapping[str, Any], where: str = "config") -> Any:
    """A backend config from a mapping, with errors that name the key path.

    A config of plain scalar fields is built directly (cheap: re-attaching from the CLI should not
    import cattrs); anything else goes through the loader's cattrs converter.
    """
    fields = attrs.fields(config_class) if attrs.has(config_class) else ()
    names = {f.name for f in fields}
    if fields and set(data) <= names and all(str(f.type) in _SCALARS for f in fields):
        try:
            return config_class(**data)
        except (TypeError, ValueError):
            pass  # let cattrs produce the precise error below
    from flowyml.config.loader import structure

    return structure(config_class, dict(data), where)


def stack_config(handle: RunHandle) -> Any:
    """The orchestrator config of the stack that submitted ``handle``, if flowyml.yaml still has it."""
    stack = handle.metadata.get("stack")
    if not stack:
        return None
    from flowyml.config.loader import load_config
    from flowyml.core.errors import ConfigError

    try:
        found = load_config().stacks.get(stack)
    except ConfigError as exc:
        log.warning("re-attaching %s without its stack %r: %s", handle.run_id, stack, exc)
        return None
    return found.orchestrator if found is not None and found.backend == handle.backend else None
