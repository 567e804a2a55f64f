"""The one naming rule for what becomes a file name, a storage key or a job name.

Steps, execution groups, pipelines, stacks and run ids: letters, digits, ``_``, ``.`` and ``-``
(Airflow's rule for DAG ids), at most 250 characters and 250 bytes, not only dots. Checked when
the name is defined or a run is submitted — before any user code runs or anything is written —
so a name can never escape a directory or break a job half-way. Output names are freer
(FlowyML's ``data/raw`` asset paths): :func:`flowyml.orchestrators.layout.encode_name` keeps them
one key component.
"""

from __future__ import annotations

import re

from flowyml.core.errors import PipelineDefinitionError

NAME_PATTERN = re.compile(r"^[\w.-]{1,250}$")
NAME_RULE = "letters, digits, '_', '.' or '-' (at most 250, not only dots)"


class InvalidNameError(PipelineDefinitionError, ValueError):
    """A step, group, pipeline or stack name or a run id that breaks the naming rule."""


def is_valid_name(value: object) -> bool:
    return (
        isinstance(value, str)
        and bool(NAME_PATTERN.match(value))
        and set(value) != {"."}
        and len(value.encode()) <= 250
    )


def check_name(value: object, what: str) -> str:
    """``value`` if it is a valid ``what`` name (``"step"``, ``"run id"``, ...), else :class:`InvalidNameError`."""
    if is_valid_name(value):
        assert isinstance(value, str)
        return value
    shown = f"{len(value)} characters" if isinstance(value, str) and len(value) > 60 else repr(value)
    raise InvalidNameError(f"invalid {what} {shown}: use {NAME_RULE}")
