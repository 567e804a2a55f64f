"""The shape of a SageMaker pipeline definition that flowyml generates, as a JSON Schema.

Written from SageMaker's published pipeline-definition schema
(github.com/aws-sagemaker-mlops/sagemaker-model-building-pipeline-definition-JSON-schema,
``schema/pipeline-definition.schema.json``): the top-level keys, step names
(``^[A-Za-z0-9\\-_]{1,64}$``), ``Type: Training``, ``DependsOn`` as a list of step names, and the
``Arguments`` keys a Training step may carry with their value types — closed, as the published
schema closes them (``additionalProperties: false``).

Two keys are allowed beyond the published schema, which predates them: ``Environment`` and
``AlgorithmSpecification.ContainerEntrypoint``, fields of CreateTrainingJob (whose request a
Training step's ``Arguments`` are) that flowyml needs to run a unit. :func:`check` adds what a
schema cannot say: unique step names and ``DependsOn`` naming steps that exist, without cycles;
and it validates each step's ``Arguments`` as a ``CreateTrainingJob`` request against botocore's
SageMaker service model (the API's own shapes: required members, types, minimum lengths), the
second, independent oracle (the ``sagemaker`` SDK, 975 MB, is not needed for either).
"""

from __future__ import annotations

from typing import Any

STEP_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9\-_]{1,64}$"}
STRING = {"type": "string"}
INTEGER = {"type": "integer"}
STRINGS = {"type": "array", "items": STRING}


def _closed(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False}


TRAINING_ARGUMENTS = _closed(
    AlgorithmSpecification=_closed(
        TrainingImage=STRING, TrainingInputMode=STRING, AlgorithmName=STRING, ContainerEntrypoint=STRINGS
    ),
    Environment={"type": "object", "additionalProperties": STRING},
    HyperParameters={"type": "object", "additionalProperties": STRING},
    OutputDataConfig=_closed(S3OutputPath=STRING, KmsKeyId=STRING),
    ResourceConfig=_closed(InstanceCount=INTEGER, InstanceType=STRING, VolumeSizeInGB=INTEGER, VolumeKmsKeyId=STRING),
    RoleArn=STRING,
    StoppingCondition=_closed(MaxRuntimeInSeconds=INTEGER, MaxWaitTimeInSeconds=INTEGER),
    Tags={"type": "array", "items": _closed(Key=STRING, Value=STRING)},
    VpcConfig=_closed(SecurityGroupIds=STRINGS, Subnets=STRINGS),
    EnableNetworkIsolation={"type": "boolean"},
    EnableManagedSpotTraining={"type": "boolean"},
)

SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "Version": {"type": "string", "enum": ["2020-12-01"]},
        "Metadata": {"type": "object"},
        "Parameters": {"type": "array"},
        "PipelineExperimentConfig": {"type": "object"},
        "Steps": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "Name": STEP_NAME,
                    "Type": {"type": "string", "enum": ["Training"]},
                    "DependsOn": {"type": "array", "items": STEP_NAME},
                    "DisplayName": STEP_NAME,
                    "Description": {"type": "string", "maxLength": 4096},
                    "Arguments": TRAINING_ARGUMENTS,
                },
                "required": ["Type", "Name", "Arguments"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["Steps"],
    "additionalProperties": False,
}


def check_arguments(arguments: dict[str, Any]) -> None:
    """Raise ``botocore.exceptions.ParamValidationError`` unless ``arguments`` + a job name is a
    valid CreateTrainingJob request in botocore's SageMaker model (SageMaker names a step's job)."""
    import botocore.session
    from botocore.validate import validate_parameters

    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("CreateTrainingJob").input_shape
    validate_parameters({"TrainingJobName": "pipelines-step-job", **arguments}, shape)


def check(definition: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` / ``AssertionError`` / ``ParamValidationError`` if the
    definition is malformed."""
    import jsonschema

    jsonschema.validate(definition, SCHEMA)
    for step in definition["Steps"]:
        check_arguments(step["Arguments"])
    steps = {s["Name"]: s for s in definition["Steps"]}
    assert len(steps) == len(definition["Steps"]), "step names must be unique"
    for step in steps.values():
        missing = set(step.get("DependsOn", [])) - set(steps)
        assert not missing, f"step {step['Name']} depends on unknown steps {missing}"
    done: set[str] = set()
    while len(done) < len(steps):  # a DAG: every step becomes ready eventually
        ready = {n for n, s in steps.items() if n not in done and set(s.get("DependsOn", [])) <= done}
        assert ready, f"DependsOn has a cycle among {set(steps) - done}"
        done |= ready
