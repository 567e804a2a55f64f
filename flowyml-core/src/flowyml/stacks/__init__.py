"""Seed-compatible import paths: ``flowyml.stacks.local`` / ``gcp`` / ``aws`` / ``azure``."""

from __future__ import annotations

import importlib
from types import ModuleType

from flowyml.plugins.install import install_hint


def import_extra(module: str, extra: str, backend: str) -> ModuleType:
    """Import a backend distribution's module, or explain which extra installs it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name and (exc.name == top or exc.name.startswith(top + ".")):
            raise ImportError(
                f"{backend} needs the {top.replace('_', '-')} distribution: {install_hint(extra)}"
            ) from exc
        raise ImportError(
            f"{backend} needs the package {exc.name!r}, which is not installed: {install_hint(extra)}"
        ) from exc
