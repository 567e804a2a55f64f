"""Checks of single values in ``flowyml.yaml`` that a type alone does not express.

Each raises :class:`~flowyml.config.errors.ConfigFieldError` with the key relative to the section
it is given; none touches the network.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from flowyml.config.errors import ConfigFieldError, describe
from flowyml.core.names import NAME_RULE, is_valid_name

_ATTRIBUTE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def check_name(value: Any, key: str, what: str = "stack") -> str:
    """``value`` if it is a valid name, else an error at ``key`` (quote YAML scalars such as ``yes`` or ``1``)."""
    if not isinstance(value, str):
        hint = "quote it in the YAML file" if isinstance(value, (bool, int, float)) else None
        raise ConfigFieldError(key, f"a {what} name of {NAME_RULE}", describe(value), hint=hint)
    if not is_valid_name(value):
        found = f"{len(value)} characters" if len(value) > 250 else describe(value)
        raise ConfigFieldError(key, f"a {what} name of {NAME_RULE}", found)
    return value


def check_pipeline_module(value: Any, key: str = "pipeline_module") -> str:
    """``module[:attribute]`` or ``path/to/file.py[:attribute]``."""
    expected = "'package.module[:attribute]' or 'path/to/file.py[:attribute]'"
    if not isinstance(value, str):
        raise ConfigFieldError(key, expected, describe(value))
    target, _, attribute = value.partition(":")
    if not target.strip() or target != target.strip() or (attribute and not _ATTRIBUTE.match(attribute)):
        raise ConfigFieldError(key, expected, describe(value))
    return value


def check_quantities(resources: Any, key: str) -> None:
    """``cpu`` (``"2"``, ``"500m"``), ``memory`` and ``disk`` (``"4Gi"``, ``"512M"``) must parse and be > 0."""
    from flowyml.core.resources import cpu_units, memory_bytes

    rules = (
        ("cpu", cpu_units, "a CPU count such as 2, 0.5 or 500m"),
        ("memory", memory_bytes, "a size such as 512Mi, 4Gi or 2G"),
        ("disk", memory_bytes, "a size such as 100Gi"),
    )
    for field, parse, expected in rules:
        value = getattr(resources, field, None)
        if value is None:
            continue
        try:
            amount = parse(value)
        except (TypeError, ValueError, OverflowError):
            amount = None
        if amount is None or amount <= 0 or amount != amount:
            raise ConfigFieldError(f"{key}.{field}", f"{expected} (more than 0)", describe(value))


def check_directory(value: str | None, key: str) -> None:
    """An existing directory (a relative path is taken from the current directory)."""
    if value is None:
        return
    path = Path(value).expanduser()
    if not path.is_dir():
        found = "a file" if path.exists() else "no such directory"
        raise ConfigFieldError(key, "an existing directory", f"{found} ({value!r})")


def check_executable(value: str | None, key: str) -> None:
    """An executable file, by path or by name on ``$PATH``."""
    if value is None:
        return
    has_dir = os.sep in value or (os.altsep is not None and os.altsep in value)
    resolved = str(Path(value).expanduser()) if has_dir else shutil.which(value)
    if resolved is None or not Path(resolved).is_file():
        raise ConfigFieldError(key, "an executable (a path, or a program on $PATH)", f"no such file ({value!r})")
    if not os.access(resolved, os.X_OK):
        raise ConfigFieldError(
            key, "an executable (a path, or a program on $PATH)", f"a file that is not executable ({value!r})"
        )
