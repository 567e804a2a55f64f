"""Secrets by reference: what came from ``${...}`` never travels as a value.

A step's secret environment variable is a *reference* ``scheme://ref`` in the job spec
(``JobSpec.secrets``: env name -> reference). The job resolves it at start-up with its own
identity, through the resolver a plugin registered for the scheme
(``flowyml_register_secrets``): ``env://NAME`` (the job's process environment: local and Ray),
``aws-sm://`` / ``aws-ssm://`` (flowyml-aws), ``gcp-sm://`` (flowyml-gcp), ``azure-kv://``
(flowyml-azure). Resolved values are masked (``***``) in what the step prints. Where the platform
injects a secret itself (AWS Batch job-definition ``secrets``), the job's ``FLOWYML_NATIVE_SECRETS``
lists those names: the step-runner only checks and masks them.

Settings other than environment variables that were written with ``${...}`` keep their
resolved value in memory only: the config object remembers the template as written
(:func:`remember_templates`), :func:`flowyml.orchestrators.configs.redact_config` stores the
template, and re-attaching resolves it again (:func:`resolve_templates`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from flowyml.core.errors import ConfigError, FlowymlError

__all__ = [
    "ENV_SCHEME",
    "NATIVE_SECRETS_ENV",
    "Masker",
    "SecretError",
    "SecretResolver",
    "check_delivery",
    "env_ref",
    "parse_ref",
    "remember_templates",
    "resolve",
    "resolve_all",
    "resolve_templates",
    "stored_settings",
    "templates_of",
]

ENV_SCHEME = "env"
#: The job's variable naming the secrets the platform injected itself (AWS Batch ``secrets``):
#: the step-runner checks they are set and masks them, and never resolves them.
NATIVE_SECRETS_ENV = "FLOWYML_NATIVE_SECRETS"
MASK = "***"
#: Values shorter than this are not masked (masking "1" would garble every log line).
MIN_MASKED = 4
_REF = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<path>\S+)$")
Resolver = Callable[[str], str]


class SecretError(FlowymlError):
    """A secret reference could not be resolved (unknown scheme, missing secret, no access)."""


@attrs.define(frozen=True)
class SecretResolver:
    """One registered scheme: ``resolve(path)`` returns the value of ``scheme://path``."""

    scheme: str
    resolve: Resolver
    description: str = ""
    extra: str | None = None


def parse_ref(ref: Any, where: str = "secret") -> tuple[str, str]:
    """``(scheme, path)`` of ``scheme://path``; a :class:`ConfigError` naming ``where`` otherwise."""
    match = _REF.match(ref) if isinstance(ref, str) else None
    if match is None:
        raise ConfigError(
            f"{where}: expected a secret reference 'scheme://name' (env://VAR, aws-sm://prod/token, "
            f"aws-ssm:///prod/token, gcp-sm://projects/p/secrets/s, azure-kv://vault/name), found {ref!r}"
        )
    return match["scheme"], match["path"]


def env_ref(variable: str) -> str:
    """The reference to ``variable`` in the job's own process environment."""
    return f"{ENV_SCHEME}://{variable}"


def resolve_env(variable: str) -> str:
    """The built-in ``env://`` resolver: the process environment of the job."""
    try:
        return os.environ[variable]
    except KeyError:
        raise SecretError(f"environment variable {variable} is not set in the job's environment") from None


def _resolvers() -> Mapping[str, SecretResolver]:
    from flowyml.plugins.manager import get_plugin_manager

    return get_plugin_manager().secret_resolvers


def resolve(ref: str) -> str:
    """The value behind ``ref``, through the resolver registered for its scheme."""
    scheme, path = parse_ref(ref)
    resolver = _resolvers().get(scheme)
    if resolver is None:
        known = ", ".join(f"{s}://" for s in sorted(_resolvers())) or "none"
        raise SecretError(f"no installed plugin resolves {scheme}:// secrets (installed: {known})")
    try:
        return resolver.resolve(path)
    except FlowymlError:
        raise
    except Exception as exc:  # an SDK error: name the reference and the cause, never a value
        raise SecretError(f"{ref}: {type(exc).__name__}: {exc}") from exc


def resolve_all(refs: Mapping[str, str]) -> dict[str, str]:
    """Env name -> value for every reference; the first failure names the variable and the reference."""
    values: dict[str, str] = {}
    for name, ref in refs.items():
        try:
            values[name] = resolve(ref)
        except (SecretError, ConfigError) as exc:
            raise SecretError(f"secret {name} ({ref}): {exc}") from exc.__cause__
    return values


def check_delivery(refs: Mapping[str, str], backend: Any) -> None:
    """Refuse references the backend's jobs cannot resolve, before anything is submitted.

    ``backend.secret_schemes`` names the schemes its jobs resolve (natively or in the step-runner);
    every scheme also needs a resolver installed here (the job has the same plugins).
    """
    schemes: frozenset[str] = frozenset(getattr(backend, "secret_schemes", frozenset()))
    offered = " or ".join(f'{{secret: "{s}://..."}}' for s in sorted(schemes - {ENV_SCHEME}))
    for name, ref in refs.items():
        scheme, path = parse_ref(ref, f"docker.env_vars.{name}")
        if scheme not in schemes:
            if scheme == ENV_SCHEME:
                why = (
                    f"its value (${{{path}}}) is only in this machine's environment, and writing it into the "
                    f"{backend.name} job would publish it in the job's definition"
                )
            else:
                why = f"{backend.name} jobs cannot resolve {scheme}:// references"
            use = (
                f"store it in the platform's secret store and write `{name}: {offered}`"
                if offered
                else f"the {backend.name} backend offers no secret mechanism; pass the value some other way"
            )
            raise ConfigError(f"docker.env_vars.{name}: {why}: {use}")
        if scheme not in _resolvers():
            raise ConfigError(
                f"docker.env_vars.{name}: no installed plugin resolves {scheme}:// secrets; install the "
                f"plugin that provides them (the jobs need it too)"
            )


class Masker:
    """Replaces every resolved secret value in a text by ``***``."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values: list[str] = []
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        for value in values:
            if len(value) >= MIN_MASKED and value not in self.values:
                self.values.append(value)
        self.values.sort(key=len, reverse=True)  # a secret containing another is masked whole

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def deep(self, data: Any) -> Any:
        """``data`` (strings, mappings and lists of them) with every string masked."""
        if isinstance(data, str):
            return self(data)
        if isinstance(data, Mapping):
            return {k: self.deep(v) for k, v in data.items()}
        if isinstance(data, list):
            return [self.deep(v) for v in data]
        return data


# -- settings written with ${...}: the template as written, remembered per config object ---------
_TEMPLATES: dict[int, tuple[object, dict[str, Any]]] = {}


def remember_templates(config: object, templates: Mapping[str, Any]) -> None:
    """Remember that ``config``'s fields ``templates`` (field -> value as written) came from ``${...}``."""
    if templates:
        _TEMPLATES[id(config)] = (config, dict(templates))  # the object is kept: its id stays unique


def templates_of(config: object) -> dict[str, Any]:
    """Field -> the value as written (with its ``${...}``), for the fields of ``config`` that used one."""
    found = _TEMPLATES.get(id(config))
    return dict(found[1]) if found is not None and found[0] is config else {}


def escape(value: Any) -> Any:
    """``value`` with every literal ``${`` written ``$${`` (so resolving templates gives it back)."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, Mapping):
        return {k: escape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape(v) for v in value]
    return value


def stored_settings(values: Mapping[str, Any], templates: Mapping[str, Any]) -> dict[str, Any]:
    """What may be written down of ``values``: a key that came from ``${...}`` as written, every
    other value escaped (:func:`resolve_templates` turns the result back into ``values``)."""
    return {k: templates[k] if k in templates else escape(v) for k, v in values.items()}


def resolve_templates(data: Mapping[str, Any], where: str = "run metadata") -> dict[str, Any]:
    """A stored (redacted) config with its ``${...}`` resolved from this process's environment.

    A field whose variable is not set here is left out (the backend's default applies), with a warning.
    """
    import logging

    from flowyml.config.loader import interpolate

    out: dict[str, Any] = {}
    for key, value in data.items():
        try:
            out[key] = interpolate(value, where, key)
        except ConfigError as exc:
            logging.getLogger("flowyml.orchestrator").warning("%s: %s is left out: %s", where, key, exc)
    return out
