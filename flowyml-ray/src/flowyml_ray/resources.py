"""A unit's resources as Ray task options (``num_cpus``, ``num_gpus``, ``memory``, accelerator)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowyml.core.resources import ResourceConfig, cpu_units, memory_bytes

_PREFIXES = ("nvidia-tesla-", "nvidia-", "tesla-")


def accelerator_type(gpu: str) -> str:
    """Ray's accelerator type for a GPU type: ``nvidia-tesla-t4`` -> ``T4``, ``nvidia-a100-80gb`` -> ``A100-80G``."""
    text = gpu.strip().lower()
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return text.upper().replace("GB", "G")


def task_options(
    resources: ResourceConfig,
    *,
    accelerator_resources: Mapping[str, str] | None = None,
    scheduling_strategy: str | None = None,
    retries: int = 0,
) -> dict[str, Any]:
    """The ``.options(...)`` of the Ray task that runs one unit.

    ``cpu`` -> ``num_cpus`` (fractions allowed, default 1 as Ray's), ``gpu_count`` -> ``num_gpus``,
    ``memory`` -> ``memory`` in bytes; the GPU type becomes ``accelerator_type`` unless
    ``accelerator_resources`` maps it to a custom resource the nodes advertise (one per GPU).
    """
    options: dict[str, Any] = {"max_retries": retries, "retry_exceptions": False}
    if resources.cpu is not None:
        options["num_cpus"] = cpu_units(resources.cpu)
    if resources.memory is not None:
        options["memory"] = memory_bytes(resources.memory)
    if resources.gpu_count:
        options["num_gpus"] = resources.gpu_count
    if resources.gpu:
        custom = {k.lower(): v for k, v in (accelerator_resources or {}).items()}.get(resources.gpu.lower())
        if custom:
            options["resources"] = {custom: float(resources.gpu_count or 1)}
        else:
            options["accelerator_type"] = accelerator_type(resources.gpu)
    if scheduling_strategy and scheduling_strategy != "DEFAULT":
        options["scheduling_strategy"] = scheduling_strategy
    return options
