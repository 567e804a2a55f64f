"""Loading ``flowyml.yaml``: read (UTF-8, budgets) -> ``${ENV}`` interpolation -> cattrs -> frozen attrs.

Every error names the file, the key path (``stacks.prod.orchestrator.job_queue``), what was
expected and what was found. A malformed file fails as a whole when it is loaded; a stack whose
backend is not installed here loads as *unavailable* ("needs flowyml[gcp]") and fails only when used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowyml.config.checks import check_name, check_pipeline_module, check_quantities
from flowyml.config.errors import ConfigFieldError, describe, key_path
from flowyml.config.models import DEFAULT_STACK, ArtifactStoreConfig, FlowymlConfig, StackConfig
from flowyml.config.structure import structure
from flowyml.core.errors import ConfigError, PluginError
from flowyml.core.resources import DockerConfig, ResourceConfig
from flowyml.secrets import env_ref, parse_ref, remember_templates

__all__ = ["CONFIG_FILE", "find_config", "interpolate", "load_config", "parse_config", "structure"]

CONFIG_FILE = "flowyml.yaml"
# $${ is a literal "${"; ${NAME} / ${NAME:-default} a reference; any other "${" is an error.
_ENV = re.compile(r"\$(?P<escaped>\$\{)|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<bad>\$\{)")
_ENV_SYNTAX = "${NAME} or ${NAME:-default} (write $${ for a literal ${)"
_TOP_KEYS = ("default_stack", "pipeline_module", "stacks")
_STACK_KEYS = ("orchestrator", "artifact_store", "resources", "docker")
_BACKEND_EXAMPLES = "a backend name such as local, aws_batch, sagemaker, vertex_ai or azureml"


def interpolate(value: Any, file: str, key: str = "") -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string value, recursively (keys stay as written)."""
    if isinstance(value, str):
        return _interpolate_text(value, file, key)
    if isinstance(value, Mapping):
        return {k: interpolate(v, file, key_path(key, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, file, key_path(key, f"[{i}]")) for i, v in enumerate(value)]
    return value


def _interpolate_text(text: str, file: str, key: str) -> str:
    def sub(m: re.Match[str]) -> str:
        if m["escaped"]:
            return "${"
        if m["bad"]:
            rest = text[m.start() :]
            end = rest.find("}")
            snippet = rest[: end + 1] if 0 <= end < 40 else rest[:40]
            found = repr(snippet) + (" (no closing '}')" if end < 0 else "")
            raise ConfigFieldError(key, _ENV_SYNTAX, found, file=file)
        name, default = m["name"], m["default"]
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigFieldError(
            key,
            f"${{{name}}} to name a set variable, or a default (${{{name}:-value}})",
            "no such variable in the environment",
            file=file,
            problem=f"environment variable {name} is not set",
        )

    return _ENV.sub(sub, text) if "$" in text else text


def find_config(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The file to read: ``path``, else ``$FLOWYML_CONFIG``, else ``./flowyml.yaml`` (None: there is none)."""
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
    """The configuration without a file: one ``local`` stack."""
    return FlowymlConfig(path=None, stacks={DEFAULT_STACK: _builtin_local()})


def _builtin_local() -> StackConfig:
    from flowyml.backends.local.plugin import LocalConfig

    return StackConfig(DEFAULT_STACK, "local", LocalConfig())


def load_config(path: str | os.PathLike[str] | None = None) -> FlowymlConfig:
    """Load ``flowyml.yaml`` (explicit path, ``$FLOWYML_CONFIG``, or ./flowyml.yaml); default: local stack."""
    found = find_config(path)
    if found is None:
        return default_config()
    from flowyml.config.reader import read_yaml

    return parse_config(read_yaml(found), str(found))


def parse_config(raw: Any, path: str | None = None) -> FlowymlConfig:
    """The configuration from plain data (as read from ``path``, named in every error)."""
    file = path or "configuration"
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigFieldError("", f"a mapping with the keys {', '.join(_TOP_KEYS)}", describe(raw), file=file)
    unknown = sorted(str(k) for k in raw if k not in _TOP_KEYS)
    if unknown:
        raise ConfigFieldError(
            "", f"only the top-level keys {', '.join(_TOP_KEYS)}", f"unknown top-level key(s) {', '.join(unknown)}",
            file=file,
        )  # fmt: skip
    stacks_raw = raw.get("stacks")
    if stacks_raw is None:
        stacks_raw = {}
    if not isinstance(stacks_raw, Mapping):
        raise ConfigFieldError("stacks", "a mapping of stack names to stacks", describe(stacks_raw), file=file)
    stacks: dict[str, StackConfig] = {}
    for name, body in stacks_raw.items():
        try:
            valid = check_name(name, "stacks")
        except ConfigFieldError as exc:
            raise exc.located(file) from None
        stacks[valid] = _parse_stack(valid, body, file)
    if DEFAULT_STACK not in stacks:
        stacks[DEFAULT_STACK] = _builtin_local()
    default = raw.get("default_stack", DEFAULT_STACK)
    if not isinstance(default, str):
        raise ConfigFieldError("default_stack", "the name of a stack (a string)", describe(default), file=file)
    if default not in stacks:
        raise ConfigFieldError(
            "default_stack", f"one of the stacks ({', '.join(sorted(stacks))})", f"no stack named {default!r}",
            file=file,
        )  # fmt: skip
    module = raw.get("pipeline_module")
    if module is not None:
        try:
            check_pipeline_module(module)
        except ConfigFieldError as exc:
            raise exc.located(file) from None
    return FlowymlConfig(path=path, stacks=stacks, default_stack=default, pipeline_module=module)


def _parse_stack(name: str, body: Any, file: str) -> StackConfig:
    key = f"stacks.{name}"
    if not isinstance(body, Mapping):
        raise ConfigFieldError(
            key, "a mapping with an orchestrator (and optionally artifact_store, resources, docker)", describe(body),
            file=file,
        )  # fmt: skip
    unknown = sorted(str(k) for k in body if k not in _STACK_KEYS)
    if unknown:
        raise ConfigFieldError(
            key, f"one of: {', '.join(sorted(_STACK_KEYS))}", f"unknown key(s) {', '.join(unknown)}", file=file
        )
    raw_orch = body.get("orchestrator")
    raw_store = body.get("artifact_store")
    body = interpolate(_env_secrets(dict(body), file, key), file, key)
    orch = body.get("orchestrator")
    if orch is None:
        raise ConfigFieldError.missing(f"{key}.orchestrator", f"a mapping with a type ({_BACKEND_EXAMPLES})").located(
            file
        )
    if not isinstance(orch, Mapping):
        raise ConfigFieldError(
            f"{key}.orchestrator", f"a mapping with a type ({_BACKEND_EXAMPLES})", describe(orch), file=file
        )
    backend = orch.get("type")
    if backend is None:
        raise ConfigFieldError.missing(f"{key}.orchestrator.type", _BACKEND_EXAMPLES).located(file)
    if not isinstance(backend, str) or not backend:
        raise ConfigFieldError(f"{key}.orchestrator.type", _BACKEND_EXAMPLES, describe(backend), file=file)
    store = _section(ArtifactStoreConfig, body, "artifact_store", file, key) or ArtifactStoreConfig()
    raw_settings = raw_store.get("settings") if isinstance(raw_store, Mapping) else None
    if isinstance(raw_settings, Mapping):  # settings written with ${...}: stored as written, resolved in the job
        remember_templates(store, {k: v for k, v in raw_settings.items() if has_reference(v)})
    resources = _section(ResourceConfig, body, "resources", file, key)
    if resources is not None:
        try:
            check_quantities(resources, f"{key}.resources")
        except ConfigFieldError as exc:
            raise exc.located(file) from None
    docker = _section(DockerConfig, body, "docker", file, key)
    try:
        config_class = _config_class(backend)
    except PluginError as exc:
        return StackConfig(
            name, backend, None, store, resources, docker, unavailable=_unavailable_label(backend, exc), reason=str(exc)
        )
    settings = {k: v for k, v in orch.items() if k != "type"}
    orchestrator = structure(config_class, settings, file, f"{key}.orchestrator")
    if isinstance(raw_orch, Mapping):  # fields written with ${...}: stored as written, never as values
        remember_templates(orchestrator, {k: v for k, v in raw_orch.items() if k != "type" and has_reference(v)})
    return StackConfig(name, backend, orchestrator, store, resources, docker)


def has_reference(value: Any) -> bool:
    """True when ``value`` (a string, or a mapping or list of them) uses a ``${VAR}``."""
    if isinstance(value, str):
        return "$" in value and any(m["name"] for m in _ENV.finditer(value))
    if isinstance(value, Mapping):
        return any(has_reference(v) for v in value.values())
    if isinstance(value, list):
        return any(has_reference(v) for v in value)
    return False


def _env_secrets(body: dict[str, Any], file: str, key: str) -> dict[str, Any]:
    """Turn ``docker.env_vars`` secrets into references in ``docker.secrets`` (before interpolation).

    ``NAME: {secret: "aws-sm://prod/token"}`` is a reference as written; ``NAME: ${VAR}`` (``VAR``
    set here) becomes ``env://VAR``: the job reads it from its own environment, where the backend
    allows that, and a submit to one that does not is refused. Plain values stay values.
    """
    docker = body.get("docker")
    env = docker.get("env_vars") if isinstance(docker, Mapping) else None
    if not isinstance(docker, Mapping) or not isinstance(env, Mapping):
        return body
    plain: dict[Any, Any] = {}
    refs: dict[str, str] = {}
    for name, value in env.items():
        where = f"{key}.docker.env_vars.{name}"
        if isinstance(value, Mapping):
            refs[str(name)] = _secret_ref(value, file, where)
            continue
        whole = _ENV.fullmatch(value) if isinstance(value, str) else None
        if whole is not None and whole["name"]:
            if whole["name"] in os.environ:
                refs[str(name)] = env_ref(whole["name"])
            else:
                plain[name] = value  # the default (or the "not set" error) comes from interpolation
        elif has_reference(value):
            raise ConfigFieldError(
                where, "a whole ${VAR}, or {secret: 'scheme://name'}", f"{value!r} (a ${{...}} inside a longer value)",
                file=file, hint="a value from ${...} travels as a reference, so it must be the whole value",
            )  # fmt: skip
        else:
            plain[name] = value
    if not refs:
        return body
    secrets = docker.get("secrets")
    if secrets is not None and not isinstance(secrets, Mapping):
        raise ConfigFieldError(
            f"{key}.docker.secrets", "a mapping of env names to references", describe(secrets), file=file
        )
    return {**body, "docker": {**docker, "env_vars": plain, "secrets": {**(secrets or {}), **refs}}}


def _secret_ref(value: Mapping[Any, Any], file: str, where: str) -> str:
    expected = "{secret: 'scheme://name'} (aws-sm://prod/token, aws-ssm:///prod/token, gcp-sm://..., azure-kv://..., env://VAR)"
    if set(value) != {"secret"}:
        raise ConfigFieldError(where, expected, describe(dict(value)), file=file)
    ref = interpolate(value["secret"], file, f"{where}.secret")
    try:
        parse_ref(ref, where)
    except ConfigError:
        raise ConfigFieldError(f"{where}.secret", expected, describe(ref), file=file) from None
    return str(ref)


def _section(cls: type, body: Mapping[str, Any], section: str, file: str, key: str) -> Any:
    """An optional section (``null`` or absent: not set); anything but a mapping is an error."""
    value = body.get(section)
    return None if value is None else structure(cls, value, file, f"{key}.{section}")


def _config_class(backend: str) -> type:
    """The config class the installed backend registered (``PluginError`` when it is not installed)."""
    from flowyml.plugins.manager import get_plugin_manager

    return get_plugin_manager().backend(backend).config_class


def _unavailable_label(backend: str, exc: PluginError) -> str:
    """``needs flowyml[gcp]`` for a known backend, else what is missing."""
    from flowyml.plugins.manager import KNOWN_BACKENDS

    if "failed to load" in str(exc):
        return f"the plugin of backend {backend!r} failed to load"
    extra = KNOWN_BACKENDS.get(backend)
    return f"needs flowyml[{extra}]" if extra else f"backend {backend!r} is not installed"
