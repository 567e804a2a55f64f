"""Writing a flowyml plugin (contract v2).

A plugin registers objects: a :class:`Backend` subclass per backend, a storage factory per
URI scheme. Core dispatches every operation to the object registered under the run's backend
name or the artifact URI's scheme::

    # pyproject.toml
    [project.entry-points.flowyml]
    mybackend = "flowyml_mybackend.plugin"

    # flowyml_mybackend/plugin.py
    from flowyml.plugins import Backend, hookimpl

    class MyBackend(Backend):
        name = "mybackend"
        config_class = MyConfig

        def submit(self, spec, config):
            from flowyml_mybackend.client import submit   # the SDK loads here, not at import
            return submit(spec, config)
        ...

    @hookimpl
    def flowyml_register_backends(register):
        register(MyBackend())

The hooks are declared in :mod:`flowyml.plugins.hookspecs`; the operations on :class:`Backend`.
The helpers every backend shares: :mod:`~flowyml.plugins.retry`, :mod:`~flowyml.plugins.logs`,
:mod:`~flowyml.plugins.cursors`, :mod:`~flowyml.plugins.clients`, :mod:`~flowyml.plugins.runstate`,
:mod:`~flowyml.plugins.processes` and :mod:`flowyml.orchestrators.layout`.
"""

from __future__ import annotations

import pluggy

from flowyml.plugins.backend import Backend, NoConfig, StoreRegistration
from flowyml.plugins.types import (
    CONTRACT_VERSION,
    JobSpec,
    LogRecord,
    PipelineRef,
    RunHandle,
    StatusReport,
    UnitSpec,
)

hookimpl = pluggy.HookimplMarker("flowyml")

__all__ = [
    "CONTRACT_VERSION",
    "Backend",
    "JobSpec",
    "LogRecord",
    "NoConfig",
    "PipelineRef",
    "RunHandle",
    "StatusReport",
    "StoreRegistration",
    "UnitSpec",
    "hookimpl",
]
