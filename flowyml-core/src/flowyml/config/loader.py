"""Loading ``flowyml.yaml``: ``yaml.safe_load`` -> ``${ENV}`` interpolation -> cattrs -> frozen attrs.

Every error names the file, the key path (``stacks.prod.orchestrator.job_queue``), what was
expected and what was found.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowyml.config.models import DEFAULT_STACK, ArtifactStoreConfig, FlowymlConfig, StackConfig
from flowyml.core.errors import ConfigError
from flowyml.core.resources import DockerConfig, ResourceConfig

CONFIG_FILE = "flowyml.yaml"
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TOP_KEYS = {"stacks", "default_stack", "pipeline_module"}
_STACK_KEYS = {"orchestrator", "artifact_store", "resources", "docker"}

_converter = None


def _conv():
    global _converter
    if _converter is None:
        import cattrs

        conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)

        def strict_str(value: Any, _type: Any) -> str:
            if isinstance(value, str):
                return value
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)
            raise TypeError(f"expected a string, found {type(value).__name__} {value!r}")

        def strict_bool(value: Any, _type: Any) -> bool:
            if isinstance(value, bool):
                return value
            raise TypeError(f"expected true or false, found {type(value).__name__} {value!r}")

        def strict_number(kind: type) -> Any:
            def hook(value: Any, _type: Any) -> Any:
                if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                    raise TypeError(f"expected {kind.__name__}, found {type(value).__name__} {value!r}")
                try:
                    return kind(value)
                except ValueError:
                    raise TypeError(f"expected {kind.__name__}, found {value!r}") from None

            return hook

        conv.register_structure_hook(str, strict_str)
        conv.register_structure_hook(int, strict_number(int))
        conv.register_structure_hook(float, strict_number(float))
        conv.register_structure_hook(bool, strict_bool)
        _converter = conv
    return _converter


def structure(cls: type, data: Any, where: str, prefix: str = "") -> Any:
    """Structure ``data`` into ``cls``; raise ``ConfigError`` naming ``where`` (the file) and the key path."""
    import cattrs

    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: {prefix or 'settings'}: expected a mapping, found {type(data).__name__} {data!r}")
    try:
        return _conv().structure(dict(data), cls)
    except cattrs.BaseValidationError as exc:
        messages = cattrs.transform_error(exc, path="$", format_exception=_format_exception)
        raise ConfigError(f"{where}: " + "; ".join(_describe(m, prefix, cls) for m in messages)) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {prefix}: {exc}") from None


def _format_exception(exc: BaseException, type_: Any) -> str:
    import cattrs

    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unknown key(s) {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, (TypeError, ValueError)):
        return str(exc)
    return f"invalid value ({exc})"


def _describe(message: str, prefix: str, cls: type) -> str:
    """'<what> @ $.a.b' -> 'a.b: <what>' (+ the allowed keys for unknown ones)."""
    import attrs

    text, _, path = message.rpartition(" @ ")
    key = ".".join(p for p in (prefix, path.removeprefix("$").lstrip(".")) if p)
    if text.startswith("unknown key") and attrs.has(cls):
        allowed = ", ".join(f.name for f in attrs.fields(cls))
        text += f"; expected one of: {allowed}"
    return f"{key}: {text}" if key else text


def _where(path: str | None, keys: str) -> str:
    return f"{path or 'configuration'}: {keys}"


def interpolate(value: Any, where: str) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string, recursively."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            raise ConfigError(f"{where}: environment variable {name} is not set (referenced as ${{{name}}})")

        return _ENV.sub(sub, value)
    if isinstance(value, Mapping):
        return {k: interpolate(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def find_config(path: str | os.PathLike[str] | None = None) -> Path | None:
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: configuration file not found")
        return p
    env = os.environ.get("FLOWYML_CONFIG")
    if env:
        p = Path(env)
        if not p.is_file():
            raise ConfigError(f"{p}: configuration file not found (from $FLOWYML_CONFIG)")
        return p
    p = Path.cwd() / CONFIG_FILE
    return p if p.is_file() else None


def default_config() -> FlowymlConfig:
    from flowyml.backends.local.plugin import LocalConfig

    return FlowymlConfig(path=None, stacks={DEFAULT_STACK: StackConfig(DEFAULT_STACK, "local", LocalConfig())})


def load_config(path: str | os.PathLike[str] | None = None) -> FlowymlConfig:
    """Load ``flowyml.yaml`` (explicit path, ``$FLOWYML_CONFIG``, or ./flowyml.yaml); default: local stack."""
    found = find_config(path)
    if found is None:
        return default_config()
    import yaml

    try:
        raw = yaml.safe_load(found.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{found}:{mark.line + 1}:{mark.column + 1}" if mark else str(found)
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_config(raw, str(found))


def parse_config(raw: Any, path: str | None = None) -> FlowymlConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path or 'configuration'}: expected a mapping at the top, found {type(raw).__name__}")
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ConfigError(
            _where(
                path, f"unknown top-level key(s) {', '.join(sorted(unknown))}; expected: {', '.join(sorted(_TOP_KEYS))}"
            )
        )
    stacks_raw = raw.get("stacks") or {}
    if not isinstance(stacks_raw, Mapping):
        raise ConfigError(_where(path, f"stacks: expected a mapping of stack names, found {type(stacks_raw).__name__}"))
    stacks = {name: _parse_stack(str(name), body, path) for name, body in stacks_raw.items()}
    if DEFAULT_STACK not in stacks:
        stacks[DEFAULT_STACK] = default_config().stacks[DEFAULT_STACK]
    default = raw.get("default_stack", DEFAULT_STACK)
    if default not in stacks:
        raise ConfigError(
            _where(path, f"default_stack: no stack named {default!r}; stacks: {', '.join(sorted(stacks))}")
        )
    return FlowymlConfig(path=path, stacks=stacks, default_stack=default, pipeline_module=raw.get("pipeline_module"))


def _parse_stack(name: str, body: Any, path: str | None) -> StackConfig:
    key = f"stacks.{name}"
    if not isinstance(body, Mapping):
        raise ConfigError(_where(path, f"{key}: expected a mapping, found {type(body).__name__} {body!r}"))
    unknown = set(body) - _STACK_KEYS
    if unknown:
        raise ConfigError(
            _where(
                path, f"{key}: unknown key(s) {', '.join(sorted(unknown))}; expected: {', '.join(sorted(_STACK_KEYS))}"
            )
        )
    body = interpolate(dict(body), _where(path, key))
    orch = body.get("orchestrator")
    if not isinstance(orch, Mapping) or "type" not in orch:
        raise ConfigError(
            _where(
                path,
                f"{key}.orchestrator: expected a mapping with a 'type' "
                f"(e.g. local, aws_batch, vertex_ai), found {orch!r}",
            )
        )
    backend = str(orch["type"])
    from flowyml.plugins.manager import get_plugin_manager

    try:
        info = get_plugin_manager().backend(backend)
    except Exception as exc:
        raise ConfigError(_where(path, f"{key}.orchestrator.type: {exc}")) from None
    settings = {k: v for k, v in orch.items() if k != "type"}
    file = path or "configuration"
    orchestrator = structure(info.config_class, settings, file, f"{key}.orchestrator")
    store = structure(ArtifactStoreConfig, body.get("artifact_store") or {}, file, f"{key}.artifact_store")
    resources = (
        structure(ResourceConfig, body["resources"], file, f"{key}.resources") if body.get("resources") else None
    )
    docker = structure(DockerConfig, body["docker"], file, f"{key}.docker") if body.get("docker") else None
    return StackConfig(name, backend, orchestrator, store, resources, docker)
