"""Resource and container settings shared by every backend.

``ResourceConfig`` is what a backend receives for one execution unit. ``ResourceRequirements``
(with ``GPUConfig`` and ``NodeAffinity``) is the FlowyML-style way to write a step's needs; it
converts to a ``ResourceConfig`` when a job is built.
"""

from __future__ import annotations

__all__ = [
    "ResourceRequirements",
    "ResourceConfig",
    "GPUConfig",
    "NodeAffinity",
    "DockerConfig",
    "resources",
    "cpu_units",
    "memory_bytes",
    "memory_mib",
]

import re
from collections.abc import Callable, Mapping
from typing import Any

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
    def _check_gpu_count(self, _attr: attrs.Attribute[int], value: int) -> None:
        if value < 0:
            raise ValueError(f"gpu_count must be >= 0, got {value}")

    def __getitem__(self, key: str) -> Any:
        """``resources["cpu"]`` as written; ``resources["gpu"]`` is the GPU count (as in FlowyML)."""
        if key == "gpu":
            return self.gpu_count
        if key == "storage":
            return self.disk
        if key.startswith("_") or key not in attrs.fields_dict(ResourceConfig):
            raise KeyError(key)
        return getattr(self, key)

    def merge(self, other: ResourceConfig | None) -> ResourceConfig:
        """The larger of each request, so a merged unit can run every step in it."""
        if other is None:
            return self
        return ResourceConfig(
            cpu=_larger(self.cpu, other.cpu, cpu_units),
            memory=_larger(self.memory, other.memory, memory_bytes),
            gpu=best_gpu_type(self.gpu, other.gpu),
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
    """The image every execution unit runs in, with its environment.

    ``secrets``: env name -> secret reference (``aws-sm://prod/token``, ``env://VAR``) the job
    resolves at start-up; only the reference travels (``env_vars: {NAME: {secret: ...}}`` and
    ``env_vars: {NAME: ${VAR}}`` in ``flowyml.yaml`` become entries here).
    """

    image: str | None = None
    env_vars: dict[str, str] = attrs.field(factory=dict)
    secrets: dict[str, str] = attrs.field(factory=dict)
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
    "TB": 1000**4,
    "B": 1,
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


def _larger(a: str | None, b: str | None, key: Callable[[str], float]) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if key(a) >= key(b) else b


#: GPU families from best to worst; a type naming none of them ranks last.
GPU_RANKING = ("h100", "a100", "v100", "t4")


def gpu_rank(gpu_type: str | None) -> int:
    """0 for the best family in :data:`GPU_RANKING`; unknown types rank after every known one."""
    text = (gpu_type or "").lower()
    return next((i for i, family in enumerate(GPU_RANKING) if family in text), len(GPU_RANKING))


def best_gpu_type(a: str | None, b: str | None) -> str | None:
    """The better of two GPU types (``a`` on a tie or when both are unknown)."""
    if a is None or b is None:
        return a or b
    return b if gpu_rank(b) < gpu_rank(a) else a


_CPU = re.compile(r"^\d+(\.\d+)?m?$")
_MEMORY = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|KB|MB|GB|TB|K|M|G|T|B)?$")


def _quantity(value: object, pattern: re.Pattern[str], what: str) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not pattern.match(text):
        example = "'2', '500m'" if pattern is _CPU else "'4Gi', '512Mi', '16G'"
        raise ValueError(f"invalid {what} {value!r}: expected a quantity such as {example}")
    return text


def _cpu(value: object) -> str | None:
    return _quantity(value, _CPU, "cpu")


def _memory(value: object) -> str | None:
    return _quantity(value, _MEMORY, "memory")


def _gpu_memory(value: object) -> str | None:
    return _quantity(value, _MEMORY, "GPU memory")


def _larger_memory(a: str | None, b: str | None) -> str | None:
    return _larger(a, b, memory_bytes)


@attrs.define(frozen=True)
class GPUConfig:
    """GPUs for a step: ``GPUConfig(gpu_type="nvidia-v100", count=2, memory="16Gi")``."""

    gpu_type: str = "generic"
    count: int = attrs.field(default=1, converter=int)
    memory: str | None = attrs.field(default=None, converter=_gpu_memory)

    @count.validator
    def _check_count(self, _attr: attrs.Attribute[int], value: int) -> None:
        if value < 1:
            raise ValueError(f"GPU count must be >= 1, got {value}")

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.gpu_type, "count": self.count, "memory": self.memory}

    def merge_with(self, other: GPUConfig) -> GPUConfig:
        """The most GPUs, the best type (h100 > a100 > v100 > t4 > unknown), the most memory."""
        return GPUConfig(
            gpu_type=best_gpu_type(self.gpu_type, other.gpu_type) or self.gpu_type,
            count=max(self.count, other.count),
            memory=_larger_memory(self.memory, other.memory),
        )

    @classmethod
    def coerce(
        cls, value: GPUConfig | Mapping[str, Any] | int | str | None, count: int | None = None
    ) -> GPUConfig | None:
        """A ``GPUConfig`` from what a step may write: a count, a type name, or a mapping."""
        if value is None:
            return cls(count=count) if count else None
        if isinstance(value, GPUConfig):
            return value
        if isinstance(value, bool):
            raise ValueError(f"gpu: expected a count, a type or a mapping, got {value!r}")
        if isinstance(value, int):
            return cls(count=value) if value else None
        if isinstance(value, str):
            return cls(gpu_type=value, count=count or 1)
        if isinstance(value, Mapping):
            data = dict(value)
            gpu_type = data.pop("gpu_type", None) or data.pop("type", None) or "generic"
            unknown = set(data) - {"count", "memory"}
            if unknown:
                raise ValueError(f"gpu: unknown key(s) {', '.join(sorted(unknown))}; expected gpu_type, count, memory")
            return cls(gpu_type=gpu_type, count=data.get("count", count or 1), memory=data.get("memory"))
        raise ValueError(f"gpu: expected a count, a type or a mapping, got {type(value).__name__}")


@attrs.define(frozen=True)
class NodeAffinity:
    """Node selection rules (hard ``required`` labels, soft ``preferred`` ones, ``tolerations``)."""

    required: dict[str, str] = attrs.field(factory=dict)
    preferred: dict[str, str] = attrs.field(factory=dict)
    tolerations: list[dict[str, str]] = attrs.field(factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "required": dict(self.required),
            "preferred": dict(self.preferred),
            "tolerations": list(self.tolerations),
        }

    def merge_with(self, other: NodeAffinity) -> NodeAffinity:
        tolerations = list(self.tolerations) + [t for t in other.tolerations if t not in self.tolerations]
        return NodeAffinity({**self.required, **other.required}, {**self.preferred, **other.preferred}, tolerations)


def _gpu(value: GPUConfig | Mapping[str, Any] | int | str | None) -> GPUConfig | None:
    return GPUConfig.coerce(value)


def _affinity(value: NodeAffinity | Mapping[str, Any] | None) -> NodeAffinity | None:
    if value is None or isinstance(value, NodeAffinity):
        return value
    return NodeAffinity(**dict(value))


_REQUIREMENT_KEYS = ("cpu", "memory", "storage", "gpu", "node_affinity", "machine_type")
_ALIASES = {"disk": "storage"}


@attrs.define(frozen=True)
class ResourceRequirements:
    """What a step needs, FlowyML-style: ``ResourceRequirements(cpu="4", memory="16Gi", gpu=GPUConfig(...))``.

    Quantities keep the strings you wrote; ``requirements["gpu"]`` is the GPU count.
    """

    cpu: str | None = attrs.field(default=None, converter=_cpu)
    memory: str | None = attrs.field(default=None, converter=_memory)
    storage: str | None = attrs.field(default=None, converter=_memory)
    gpu: GPUConfig | None = attrs.field(default=None, converter=_gpu)
    node_affinity: NodeAffinity | None = attrs.field(default=None, converter=_affinity)
    machine_type: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ResourceRequirements:
        """Read a step's ``resources={...}``: FlowyML keys plus ``gpu_count`` / ``disk`` / ``machine_type``."""
        values = {_ALIASES.get(k, k): v for k, v in data.items()}
        count = values.pop("gpu_count", None)
        unknown = set(values) - set(_REQUIREMENT_KEYS)
        if unknown:
            raise ValueError(
                f"resources: unknown key(s) {', '.join(sorted(unknown))}; "
                f"expected {', '.join(_REQUIREMENT_KEYS)}, gpu_count, disk"
            )
        if count is not None:
            values["gpu"] = GPUConfig.coerce(values.get("gpu"), count=int(count))
        return cls(**values)

    @classmethod
    def from_config(cls, config: ResourceConfig) -> ResourceRequirements:
        gpu = GPUConfig(config.gpu or "generic", config.gpu_count) if config.gpu_count else None
        return cls(config.cpu, config.memory, config.disk, gpu, None, config.machine_type)

    def __getitem__(self, key: str) -> Any:
        """Dict-style reads, as in FlowyML: ``["cpu"]`` as written, ``["gpu"]`` the GPU count."""
        key = _ALIASES.get(key, key)
        if key == "gpu":
            return self.get_gpu_count()
        if key == "gpu_count":
            return self.get_gpu_count()
        if key not in _REQUIREMENT_KEYS:
            raise KeyError(key)
        return getattr(self, key)

    @property
    def gpu_count(self) -> int:
        return self.get_gpu_count()

    @property
    def disk(self) -> str | None:
        return self.storage

    def has_gpu(self) -> bool:
        return self.gpu is not None

    def get_gpu_count(self) -> int:
        return self.gpu.count if self.gpu else 0

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set (``gpu`` and ``node_affinity`` as dicts)."""
        out: dict[str, Any] = {}
        for key in _REQUIREMENT_KEYS:
            value = getattr(self, key)
            if value is not None:
                out[key] = value.to_dict() if hasattr(value, "to_dict") else value
        return out

    def merge_with(self, other: ResourceRequirements | ResourceConfig | None) -> ResourceRequirements:
        """The larger of each quantity (original strings kept), merged GPUs and node affinity."""
        if other is None:
            return self
        if isinstance(other, ResourceConfig):
            other = ResourceRequirements.from_config(other)
        gpu = self.gpu.merge_with(other.gpu) if self.gpu and other.gpu else self.gpu or other.gpu
        affinity = (
            self.node_affinity.merge_with(other.node_affinity)
            if self.node_affinity and other.node_affinity
            else self.node_affinity or other.node_affinity
        )
        return ResourceRequirements(
            cpu=_larger(self.cpu, other.cpu, cpu_units),
            memory=_larger_memory(self.memory, other.memory),
            storage=_larger_memory(self.storage, other.storage),
            gpu=gpu,
            node_affinity=affinity,
            machine_type=self.machine_type or other.machine_type,
        )

    def to_resource_config(self) -> ResourceConfig:
        """What backends receive (node affinity has no backend equivalent and is not passed on)."""
        return ResourceConfig(
            cpu=self.cpu,
            memory=self.memory,
            gpu=self.gpu.gpu_type if self.gpu and self.gpu.gpu_type != "generic" else None,
            gpu_count=self.get_gpu_count(),
            disk=self.storage,
            machine_type=self.machine_type,
        )

    def with_defaults(self, defaults: ResourceConfig | None) -> ResourceConfig:
        """As :meth:`ResourceConfig.with_defaults`, so job specs treat both kinds alike."""
        return self.to_resource_config().with_defaults(defaults)

    def merge(self, other: ResourceRequirements | ResourceConfig | None) -> ResourceRequirements:
        return self.merge_with(other)


def resources(
    cpu: str | None = None,
    memory: str | None = None,
    storage: str | None = None,
    gpu: GPUConfig | int | str | None = None,
    node_affinity: NodeAffinity | None = None,
) -> ResourceRequirements:
    """``resources(cpu="2", memory="4Gi")``: a validated :class:`ResourceRequirements`."""
    return ResourceRequirements(cpu=cpu, memory=memory, storage=storage, gpu=gpu, node_affinity=node_affinity)


def as_requirements(value: ResourceRequirements | ResourceConfig | None) -> ResourceRequirements | None:
    """Either kind as ``ResourceRequirements`` (for aggregating a group's needs)."""
    if value is None or isinstance(value, ResourceRequirements):
        return value
    return ResourceRequirements.from_config(value)
