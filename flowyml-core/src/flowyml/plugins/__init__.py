"""Writing a flowyml plugin.

A plugin is a small module of ``@hookimpl`` functions plus an entry point::

    # pyproject.toml
    [project.entry-points.flowyml]
    mybackend = "flowyml_mybackend.plugin"

    # flowyml_mybackend/plugin.py
    from flowyml.plugins import BackendInfo, hookimpl

    @hookimpl
    def flowyml_register_backends(register):
        register(BackendInfo(name="mybackend", config_class=MyConfig))

    @hookimpl
    def flowyml_submit(backend, spec, config):
        if backend != "mybackend":
            return None
        from flowyml_mybackend.client import submit   # the SDK loads here, not at import
        return submit(spec, config)

The hooks are declared and documented in :mod:`flowyml.plugins.hookspecs`.
"""

from __future__ import annotations

import pluggy

from flowyml.plugins.types import (
    CONTRACT_VERSION,
    BackendInfo,
    JobSpec,
    LogRecord,
    PipelineRef,
    RunHandle,
    StatusReport,
    StoreInfo,
    UnitSpec,
)

hookimpl = pluggy.HookimplMarker("flowyml")

__all__ = [
    "CONTRACT_VERSION",
    "BackendInfo",
    "JobSpec",
    "LogRecord",
    "PipelineRef",
    "RunHandle",
    "StatusReport",
    "StoreInfo",
    "UnitSpec",
    "hookimpl",
]
