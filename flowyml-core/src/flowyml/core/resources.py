"""Resource and container settings shared by every backend."""

from __future__ import annotations

import attrs


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


@attrs.define(frozen=True)
class ResourceConfig:
    """What one step or execution unit asks of the machine that runs it.

    ``cpu`` and ``memory`` use Kubernetes-style strings (``"2"``, ``"500m"``, ``"4Gi"``);
    each backend converts them to its own units.
    """

    cpu: str | None = attrs.field(default=None, converter=_opt_str)
    memory: str | None = attrs.field(default=None, converter=_opt_str)
    gpu: str | None = None
    gpu_count: int = attrs.field(default=0, converter=int)
    disk: str | None = attrs.field(default=None, converter=_opt_str)
    machine_type: str | None = None

    @gpu_count.validator
    def _check_gpu_count(self, _attr: attrs.Attribute, value: int) -> None:
        if value < 0:
            raise ValueError(f"gpu_count must be >= 0, got {value}")

    def merge(self, other: ResourceConfig | None) -> ResourceConfig:
        """The larger of each request, so a merged unit can run every step in it."""
        if other is None:
            return self
        return ResourceConfig(
            cpu=_larger(self.cpu, other.cpu, cpu_units),
            memory=_larger(self.memory, other.memory, memory_bytes),
            gpu=self.gpu or other.gpu,
            gpu_count=max(self.gpu_count, other.gpu_count),
            disk=_larger(self.disk, other.disk, memory_bytes),
            machine_type=self.machine_type or other.machine_type,
        )

    def with_defaults(self, defaults: ResourceConfig | None) -> ResourceConfig:
        """Fill the fields this config leaves unset from ``defaults``."""
        if defaults is None:
            return self
        return ResourceConfig(
            cpu=self.cpu or defaults.cpu,
            memory=self.memory or defaults.memory,
            gpu=self.gpu or defaults.gpu,
            gpu_count=self.gpu_count or defaults.gpu_count,
            disk=self.disk or defaults.disk,
            machine_type=self.machine_type or defaults.machine_type,
        )


@attrs.define(frozen=True)
class DockerConfig:
    """The image every execution unit runs in, with its environment."""

    image: str | None = None
    env_vars: dict[str, str] = attrs.field(factory=dict)
    command: list[str] | None = None
    args: list[str] | None = None


def cpu_units(value: str) -> float:
    """``"2"`` -> 2.0, ``"500m"`` -> 0.5."""
    text = str(value).strip()
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    return float(text)


_MEM_SUFFIXES = {
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
}


def memory_bytes(value: str) -> int:
    """``"4Gi"`` -> 4294967296; plain numbers are bytes."""
    text = str(value).strip()
    for suffix in sorted(_MEM_SUFFIXES, key=len, reverse=True):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * _MEM_SUFFIXES[suffix])
    return int(float(text))


def memory_mib(value: str) -> int:
    """Memory in MiB, rounded up (AWS Batch and SageMaker want MiB)."""
    return -(-memory_bytes(value) // (1024**2))


def _larger(a: str | None, b: str | None, key) -> str | None:  # type: ignore[no-untyped-def]
    if a is None:
        return b
    if b is None:
        return a
    return a if key(a) >= key(b) else b
