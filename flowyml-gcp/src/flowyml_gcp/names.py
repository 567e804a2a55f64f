"""Names Vertex AI accepts: labels, PipelineJob ids, display names — all derived from the run id."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

RUN_LABEL = "flowyml-run"
#: exact identity of the run id (labels are lowercased and cut to 63 chars, so two run ids may share one)
RUN_KEY_LABEL = "flowyml-run-key"
PIPELINE_LABEL = "flowyml-pipeline"
UNIT_LABEL = "flowyml-unit"
_MAX_LABELS = 64


def run_key(run_id: str) -> str:
    """A short, exact, label-safe fingerprint of the run id."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:20]


def label_value(value: str) -> str:
    """GCP label value: at most 63 of ``[a-z0-9_-]`` (lowercased; anything else becomes ``-``)."""
    return re.sub(r"[^a-z0-9_-]", "-", str(value).lower())[:63]


def label_key(key: str) -> str:
    """GCP label key: starts with a lowercase letter, at most 63 of ``[a-z0-9_-]``."""
    text = re.sub(r"[^a-z0-9_-]", "-", str(key).lower())
    if not text or not text[0].isalpha():
        text = "k" + text
    return text[:63]


def run_labels(run_id: str, pipeline: str, *extra: Mapping[str, str], unit: str | None = None) -> dict[str, str]:
    """The labels of every job of a run: user labels first, flowyml's own always win."""
    labels: dict[str, str] = {}
    for source in extra:
        for k, v in (source or {}).items():
            labels[label_key(k)] = label_value(v)
    labels[RUN_LABEL] = label_value(run_id)
    labels[RUN_KEY_LABEL] = run_key(run_id)
    labels[PIPELINE_LABEL] = label_value(pipeline)
    if unit is not None:
        labels[UNIT_LABEL] = label_value(unit)
    if len(labels) > _MAX_LABELS:
        own = {RUN_LABEL, RUN_KEY_LABEL, PIPELINE_LABEL, UNIT_LABEL}
        user = [k for k in labels if k not in own][: _MAX_LABELS - len(own & set(labels))]
        labels = {k: v for k, v in labels.items() if k in own or k in user}
    return labels


def pipeline_job_id(run_id: str) -> str:
    """The client-chosen PipelineJob id, ``[a-z][-a-z0-9]{0,127}``: same run id, same job id."""
    slug = re.sub(r"[^a-z0-9]+", "-", run_id.lower()).strip("-")[:100].strip("-")
    return f"flowyml-{slug}-{run_key(run_id)[:8]}" if slug else f"flowyml-{run_key(run_id)[:8]}"


def kfp_name(text: str) -> str:
    """A KFP pipeline name (lowercase, dashes)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:120] or "flowyml-pipeline"


def display_name(*parts: str) -> str:
    """Display names may hold any UTF-8 character, at most 128."""
    return "-".join(p for p in parts if p)[:128]
