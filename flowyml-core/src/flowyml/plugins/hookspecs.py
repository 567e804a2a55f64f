"""The flowyml plugin contract (version 2): the hooks a plugin implements.

A plugin is a module with ``@hookimpl`` functions, found through the ``flowyml`` entry-point
group (or registered in code with ``PluginManager.register``). In contract v2 the hooks only
*register objects*: backends (:class:`flowyml.plugins.Backend` subclasses, one object per
backend) and artifact stores (a factory per URI scheme). Core keeps the registry and
dispatches every operation by backend name or URI scheme itself — no hook implementation
filters by name or scheme, and a plugin never sees another plugin's runs.

Rules for plugin authors (as in pytest): an implementation may accept fewer arguments than
the spec declares, and specs only ever gain trailing arguments, so a plugin written today
keeps working. Import your cloud SDK inside your backend's methods, never at module level:
loading plugins must stay cheap (``import flowyml`` loads no SDK).

Secrets: mark secret config fields ``attrs.field(metadata={"secret": True})`` and give them
a default read from the environment. flowyml never stores them (run handles, metadata,
``to_dict``) and, when a run is re-attached from another process without its stack, rebuilds
the config without them — the environment default then supplies them.
"""

from __future__ import annotations

__all__ = [
    "flowyml_register_backends",
    "flowyml_register_stores",
    "flowyml_register_secrets",
    "RegisterBackend",
    "RegisterStore",
    "RegisterSecret",
    "HOOK_VERSIONS",
]

from collections.abc import Callable
from typing import Protocol

import pluggy

from flowyml.plugins.backend import Backend, StorageFactory

hookspec = pluggy.HookspecMarker("flowyml")


class RegisterBackend(Protocol):
    def __call__(self, backend: Backend) -> None: ...


class RegisterStore(Protocol):
    def __call__(
        self, scheme: str, factory: StorageFactory, description: str = "", extra: str | None = None
    ) -> None: ...


class RegisterSecret(Protocol):
    def __call__(
        self, scheme: str, resolve: Callable[[str], str], description: str = "", extra: str | None = None
    ) -> None: ...


#: Hook name -> the contract version that introduced it. A plugin implementing a hook this core
#: does not know (a newer contract, or the v1 operation hooks) is warned about and skipped.
HOOK_VERSIONS = {
    "flowyml_register_backends": 2,
    "flowyml_register_stores": 2,
    "flowyml_register_secrets": 2,
}


@hookspec
def flowyml_register_backends(register: RegisterBackend) -> None:
    """Register each backend this plugin provides: ``register(MyBackend())``.

    **When:** once, when the plugin manager loads plugins (the first use of a backend the
    built-ins lack, ``flowyml plugins``, loading a ``flowyml.yaml`` that names one).

    One plugin may register several backends (flowyml-aws registers ``aws_batch`` and
    ``sagemaker``). Each object is a :class:`~flowyml.plugins.Backend`; its ``config_class``
    must import without the cloud SDK. A name registered twice keeps the first and warns.

    .. versionadded:: 2
    """


@hookspec
def flowyml_register_stores(register: RegisterStore) -> None:
    """Register each artifact URI scheme this plugin stores: ``register("s3", S3Storage)``.

    **When:** with :func:`flowyml_register_backends`.

    ``factory(uri, settings)`` returns a :class:`flowyml.artifacts.storage.Storage` rooted at
    ``uri``; it is called whenever artifacts are written or read, in the submitting process and
    inside every step-runner. The storage moves bytes only: flowyml writes the manifest (type,
    serializer, size, sha256) itself, so every scheme gets the same checksums and the same
    atomicity rule — an object is visible whole or not at all, and ``create_only`` writes never
    replace an existing object. ``description`` and ``extra`` (the ``flowyml[<extra>]`` that
    installs it) show in ``flowyml plugins`` and in "not installed" errors.

    .. versionadded:: 2
    """


@hookspec
def flowyml_register_secrets(register: RegisterSecret) -> None:
    """Register each secret-reference scheme this plugin resolves: ``register("aws-sm", resolve)``.

    **When:** with :func:`flowyml_register_backends`; the step-runner calls the resolvers at a
    unit's start-up, inside the job, with the job's own identity (its role, service account or
    managed identity).

    ``resolve(path)`` returns the value of ``scheme://path`` (``aws-sm://prod/api-token`` calls
    ``resolve("prod/api-token")``). It runs only in the job: flowyml never resolves a secret in
    the submitting process, never writes a value into a job spec, a job definition, the run
    registry or a log, and masks resolved values (``***``) in what the step prints. Raise any
    exception when the secret cannot be read; flowyml reports the variable and the reference,
    never a value. A backend lists the schemes its jobs can resolve in ``Backend.secret_schemes``;
    a reference it cannot resolve is refused at submit.

    .. versionadded:: 2
    """
