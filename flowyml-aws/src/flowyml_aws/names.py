"""Native job names derived from the run id (the key of idempotent submission), and resource mapping."""

from __future__ import annotations

import hashlib
import re

from flowyml.core.resources import ResourceConfig


def _digest(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _unit_digest(run_id: str, unit: str) -> str:
    return _digest(run_id + "\x00" + unit)


def batch_job_name(prefix: str, run_id: str, unit: str) -> str:
    """``<prefix>-<run id>-<unit>-<hash>`` in Batch's alphabet (``[A-Za-z0-9_-]``, <= 128 chars).

    The hash of (run id, unit) keeps names apart where the readable part is ambiguous (run ``a``
    unit ``b-c`` vs run ``a-b`` unit ``c``) or truncated.
    """
    readable = re.sub(r"[^A-Za-z0-9_-]", "-", f"{prefix}-{run_id}-{unit}")
    return f"{readable[:119]}-{_unit_digest(run_id, unit)}"


def batch_barrier_name(prefix: str, run_id: str, unit: str, level: int, index: int) -> str:
    """The name of barrier job ``index`` (tree level ``level``) that ``unit`` waits on."""
    readable = re.sub(r"[^A-Za-z0-9_-]", "-", f"{prefix}-{run_id}-{unit}-barrier{level}-{index}")
    key = "\x00".join((run_id, unit, "barrier", str(level), str(index)))
    return f"{readable[:119]}-{_digest(key)}"


def batch_name_prefix(prefix: str, run_id: str) -> str:
    """The common start of every job name of a run (for ``list_jobs`` ``JOB_NAME`` filters)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{prefix}-{run_id}-")[:100]


def sagemaker_job_name(prefix: str, run_id: str, unit: str) -> str:
    """A training job name (``^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$``), unique per (run, unit) by its hash suffix."""
    readable = re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9]", "-", f"{prefix}-{run_id}-{unit}")).strip("-")
    return f"{readable[:54].rstrip('-')}-{_unit_digest(run_id, unit)}"


def sagemaker_instance_type(res: ResourceConfig, default: str) -> str:
    """The unit's ``machine_type`` when it names a SageMaker instance (``ml.*``), else the default."""
    if res.machine_type and res.machine_type.startswith("ml."):
        return res.machine_type
    return default


def sagemaker_pipeline_name(prefix: str, run_id: str) -> str:
    """The run's pipeline name (``^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}$``), unique per run by its hash suffix."""
    readable = re.sub(r"-+", "-", re.sub(r"[^A-Za-z0-9]", "-", f"{prefix}-{run_id}")).strip("-")
    return f"{readable[:200].rstrip('-')}-{_digest(run_id)}"


def client_token(run_id: str, purpose: str) -> str:
    """An idempotency token (32-128 characters) derived from the run id: the same run, the same token."""
    return hashlib.sha256(f"flowyml\x00{purpose}\x00{run_id}".encode()).hexdigest()
