"""AWS Batch resource rules: what Fargate and EC2 accept, checked at submit (before any job exists).

Batch rejects a job whose ``resourceRequirements`` its platform cannot run, but only after the
jobs before it in the DAG were created; flowyml checks every unit first and names the unit, the
value and the values the platform takes.
"""

from __future__ import annotations

from collections.abc import Mapping

from flowyml.core.errors import ConfigError
from flowyml.core.resources import ResourceConfig, cpu_units, memory_mib

#: Fargate: vCPU -> the memory sizes (MiB) it can run with (AWS Batch ``ResourceRequirement``).
FARGATE_MEMORY: dict[float, range | tuple[int, ...]] = {
    0.25: (512, 1024, 2048),
    0.5: range(1024, 4096 + 1, 1024),
    1.0: range(2048, 8192 + 1, 1024),
    2.0: range(4096, 16384 + 1, 1024),
    4.0: range(8192, 30720 + 1, 1024),
    8.0: range(16384, 61440 + 1, 4096),
    16.0: range(32768, 122880 + 1, 8192),
}
#: EC2: Batch wants whole vCPUs, at least one, and at least 4 MiB of memory.
EC2_MIN_MEMORY_MIB = 4


def _fmt(vcpu: float) -> str:
    return str(int(vcpu)) if vcpu == int(vcpu) else f"{vcpu:g}"


def _memory_list(sizes: range | tuple[int, ...]) -> str:
    if isinstance(sizes, range):
        return f"{sizes.start}-{sizes.stop - 1} MiB in steps of {sizes.step}"
    return ", ".join(str(s) for s in sizes) + " MiB"


def requirements(res: ResourceConfig) -> list[dict[str, str]]:
    """``containerOverrides.resourceRequirements`` for one unit (VCPU, MEMORY in MiB, GPU)."""
    out = []
    if res.cpu:
        out.append({"type": "VCPU", "value": _fmt(cpu_units(res.cpu))})
    if res.memory:
        out.append({"type": "MEMORY", "value": str(memory_mib(res.memory))})
    if res.gpu_count:
        out.append({"type": "GPU", "value": str(res.gpu_count)})
    return out


def effective(overrides: list[dict[str, str]], defaults: Mapping[str, str]) -> dict[str, str]:
    """The unit's VCPU/MEMORY/GPU: its overrides on top of the job definition's values."""
    merged = dict(defaults)
    merged.update({r["type"]: r["value"] for r in overrides})
    return merged


def check(unit: str, platform: str, values: Mapping[str, str]) -> None:
    """Raise :class:`ConfigError` if ``platform`` ("FARGATE" or "EC2") cannot run these values."""
    where = f"aws_batch: unit {unit!r}"
    vcpu = float(values["VCPU"]) if "VCPU" in values else None
    memory = int(values["MEMORY"]) if "MEMORY" in values else None
    gpus = int(values.get("GPU") or 0)
    if platform == "FARGATE":
        if gpus:
            raise ConfigError(
                f"{where} asks for {gpus} GPU(s), and Fargate has none: drop `gpu_count`, or use a job queue "
                "whose compute environment is EC2 with GPU instances (and a job definition for EC2)"
            )
        if vcpu is None or memory is None:
            return  # the job definition decides; Batch checks its own values
        sizes = FARGATE_MEMORY.get(vcpu)
        if sizes is None:
            raise ConfigError(
                f"{where} asks for {_fmt(vcpu)} vCPU, which Fargate does not offer: use one of "
                f"{', '.join(_fmt(v) for v in FARGATE_MEMORY)} (resources.cpu)"
            )
        if memory not in sizes:
            raise ConfigError(
                f"{where} asks for {memory} MiB with {_fmt(vcpu)} vCPU, which Fargate does not offer: with "
                f"{_fmt(vcpu)} vCPU use {_memory_list(sizes)} (resources.memory)"
            )
        return
    if vcpu is not None and (vcpu < 1 or vcpu != int(vcpu)):
        raise ConfigError(
            f"{where} asks for {_fmt(vcpu)} vCPU; on EC2, Batch takes whole vCPUs, at least 1 (resources.cpu)"
        )
    if memory is not None and memory < EC2_MIN_MEMORY_MIB:
        raise ConfigError(f"{where} asks for {memory} MiB; Batch needs at least {EC2_MIN_MEMORY_MIB} MiB")
