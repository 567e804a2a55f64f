"""A unit's :class:`ResourceConfig` in Vertex AI terms: machine type, accelerator, KFP limits."""

from __future__ import annotations

import math
import re

from flowyml.core.errors import ConfigError
from flowyml.core.resources import ResourceConfig, cpu_units, memory_bytes, memory_mib

_GIB = 1024**3
_SIZES = (2, 4, 8, 16, 32, 64, 96)
#: family -> GiB of memory per vCPU (N1 machine families)
_FAMILIES = (("n1-standard", 3.75), ("n1-highmem", 6.5))
_ALIASES = {
    "t4": "NVIDIA_TESLA_T4",
    "v100": "NVIDIA_TESLA_V100",
    "p100": "NVIDIA_TESLA_P100",
    "p4": "NVIDIA_TESLA_P4",
    "a100": "NVIDIA_TESLA_A100",
    "a100-80gb": "NVIDIA_A100_80GB",
    "l4": "NVIDIA_L4",
    "h100": "NVIDIA_H100_80GB",
}
#: accelerators that only attach to their own machine family: type -> machine type for N GPUs
_GPU_MACHINES = {
    "NVIDIA_TESLA_A100": "a2-highgpu-{n}g",
    "NVIDIA_A100_80GB": "a2-ultragpu-{n}g",
    "NVIDIA_H100_80GB": "a3-highgpu-{n}g",
    "NVIDIA_L4": "g2-standard-{cpus}",
}
DEFAULT_GPU = "NVIDIA_TESLA_T4"


def accelerator(resources: ResourceConfig) -> tuple[str, int] | None:
    """(Vertex ``AcceleratorType`` name, count) or None for CPU-only units."""
    if not resources.gpu and not resources.gpu_count:
        return None
    name = (resources.gpu or DEFAULT_GPU).strip()
    key = name.lower().removeprefix("nvidia-tesla-").removeprefix("nvidia-")
    canonical = _ALIASES.get(key, re.sub(r"[^A-Z0-9]+", "_", name.upper()))
    if not canonical.startswith(("NVIDIA_", "TPU_")):
        raise ConfigError(f"resources.gpu {name!r} is not a Vertex AI accelerator such as 'NVIDIA_TESLA_T4'")
    return canonical, max(1, resources.gpu_count)


def machine_type(resources: ResourceConfig, default: str) -> str:
    """The explicit machine type, else the smallest N1 machine with enough CPU and memory."""
    if resources.machine_type:
        return resources.machine_type
    acc = accelerator(resources)
    if acc and acc[0] in _GPU_MACHINES:
        count = acc[1]
        return _GPU_MACHINES[acc[0]].format(n=count, cpus=max(4, 12 * count if count > 1 else 4))
    if not resources.cpu and not resources.memory:
        return default
    cpus = cpu_units(resources.cpu) if resources.cpu else 0.0
    mem = memory_bytes(resources.memory) / _GIB if resources.memory else 0.0
    for size in _SIZES:
        for family, per_cpu in _FAMILIES:
            if size >= cpus and size * per_cpu >= mem:
                return f"{family}-{size}"
    raise ConfigError(f"no N1 machine has {resources.cpu} CPUs and {resources.memory}: set resources.machine_type")


#: the boot disk a Vertex Pipelines container task gets (KFP has no setting for it)
PIPELINE_TASK_DISK_GB = 100


def boot_disk_gb(resources: ResourceConfig, default: int) -> int:
    """``resources.disk`` in GB as Compute Engine counts them (GiB, rounded up), else ``default``."""
    if not resources.disk:
        return default
    return max(1, math.ceil(memory_bytes(resources.disk) / _GIB))


def check_pipeline_disk(unit: str, resources: ResourceConfig) -> None:
    """Refuse a disk a pipeline task cannot get (rather than run with a smaller one)."""
    if resources.disk and boot_disk_gb(resources, 0) > PIPELINE_TASK_DISK_GB:
        raise ConfigError(
            f"unit {unit!r}: resources.disk={resources.disk} - a Vertex AI pipeline task gets a "
            f"{PIPELINE_TASK_DISK_GB} GB boot disk and KFP has no setting for more; run the step alone "
            "(a single-unit run is a CustomJob, whose bootDiskSizeGb follows resources.disk) or write large "
            "data to the artifact store"
        )


def kfp_memory(value: str) -> str:
    """KFP accepts integer quantities only: ``1.5Gi`` becomes ``1536Mi``."""
    text = str(value).strip()
    if re.fullmatch(r"[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?", text):
        return text
    return f"{memory_mib(text)}Mi"


def kfp_cpu(value: str) -> str:
    text = str(value).strip()
    if re.fullmatch(r"([0-9]*[.])?[0-9]+m?", text):
        return text
    raise ConfigError(f"resources.cpu {value!r} is not a CPU quantity such as '2' or '500m'")
