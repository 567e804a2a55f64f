"""The SageMaker Pipelines definition of a multi-unit run: one ``Training`` step per unit.

Each step's ``Arguments`` are the unit's ``CreateTrainingJob`` request without the job name
(SageMaker names the step's job), and ``DependsOn`` lists the steps of the units it waits for,
so the DAG runs inside AWS with nobody polling. Step names follow the definition schema's
``^[A-Za-z0-9\\-_]{1,64}$``; a unit name outside it gets a readable name plus a hash.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from flowyml.core.errors import ConfigError
from flowyml.plugins.types import JobSpec

#: the definition format version SageMaker Pipelines documents
VERSION = "2020-12-01"
STEP_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")
#: CreatePipeline takes a definition of at most 1,048,576 characters inline
MAX_DEFINITION_CHARS = 1_048_576


def step_name(unit: str) -> str:
    """The step name of ``unit``: the unit name when the schema allows it, else readable + hash."""
    if STEP_NAME.match(unit):
        return unit
    readable = re.sub(r"[^A-Za-z0-9_-]", "-", unit)[:55]
    return f"{readable}-{hashlib.sha256(unit.encode()).hexdigest()[:8]}"


def step_names(spec: JobSpec) -> dict[str, str]:
    """unit -> step name for every unit of the run (distinct by construction: a hash where needed)."""
    names = {u.name: step_name(u.name) for u in spec.units}
    if len(set(names.values())) != len(names):  # "a.b" and "a-b-<hash>" cannot collide; be sure anyway
        raise ConfigError(f"sagemaker: unit names {sorted(names)} map to clashing pipeline step names")
    return names


def definition(spec: JobSpec, requests: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The pipeline definition: ``requests`` maps each unit to its CreateTrainingJob request."""
    names = step_names(spec)
    steps = []
    for unit in spec.units:
        arguments = {k: v for k, v in requests[unit.name].items() if k != "TrainingJobName"}
        step: dict[str, Any] = {"Name": names[unit.name], "Type": "Training", "Arguments": arguments}
        if unit.depends_on:
            step["DependsOn"] = [names[d] for d in unit.depends_on]
        steps.append(step)
    return {"Version": VERSION, "Metadata": {}, "Parameters": [], "Steps": steps}


def encode(doc: Mapping[str, Any]) -> str:
    """The definition as CreatePipeline takes it (compact JSON, within the size limit)."""
    text = json.dumps(doc, separators=(",", ":"), sort_keys=False)
    if len(text) > MAX_DEFINITION_CHARS:
        raise ConfigError(
            f"sagemaker: the pipeline definition is {len(text)} characters, over SageMaker's {MAX_DEFINITION_CHARS} "
            "(large environments or many units): move large values into the artifact store or the image"
        )
    return text
