"""AWS secrets for jobs: ``aws-sm://`` (Secrets Manager) and ``aws-ssm://`` (SSM Parameter Store).

On SageMaker, resolved inside the job by the step-runner at start-up, with the job's execution role:
``secretsmanager:GetSecretValue`` / ``ssm:GetParameter``. On AWS Batch, Batch injects them itself
from the job definition's ``secrets`` (:mod:`flowyml_aws.batch_secrets`). The region is the ARN's,
else the job's ``AWS_REGION`` (both backends set it); boto3's own endpoint settings
(``AWS_ENDPOINT_URL``) apply.

- ``aws-sm://prod/api-token`` (a name or an ARN): the secret's string; ``aws-sm://prod/db#password``
  reads one key of a JSON secret.
- ``aws-ssm:///prod/api-token``: a (SecureString) parameter, decrypted.
"""

from __future__ import annotations

import json
from typing import Any

from flowyml.plugins import hookimpl
from flowyml.plugins.hookspecs import RegisterSecret
from flowyml.secrets import SecretError


def _region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] or None if arn.startswith("arn:") and len(parts) > 3 else None


def _client(service: str, region: str | None) -> Any:
    from flowyml_aws.client import client

    return client(service, region=region)


def read_secrets_manager(path: str) -> str:
    """The value of ``aws-sm://<name or ARN>[#json-key]``."""
    from flowyml_aws.client import call

    secret_id, _, key = path.partition("#")
    sm = _client("secretsmanager", _region_of(secret_id))
    answer = call(lambda: sm.get_secret_value(SecretId=secret_id), f"Secrets Manager GetSecretValue {secret_id}")
    text = answer.get("SecretString")
    if text is None:
        text = bytes(answer["SecretBinary"]).decode()
    if not key:
        return str(text)
    try:
        return str(json.loads(text)[key])
    except (ValueError, KeyError, TypeError):
        raise SecretError(f"aws-sm://{path}: the secret is not a JSON object with the key {key!r}") from None


def read_parameter(path: str) -> str:
    """The decrypted value of the SSM parameter ``aws-ssm://<name or ARN>``."""
    from flowyml_aws.client import call

    ssm = _client("ssm", _region_of(path))
    answer = call(lambda: ssm.get_parameter(Name=path, WithDecryption=True), f"SSM GetParameter {path}")
    return str(answer["Parameter"]["Value"])


@hookimpl
def flowyml_register_secrets(register: RegisterSecret) -> None:
    register("aws-sm", read_secrets_manager, description="AWS Secrets Manager (the job's role reads it)", extra="aws")
    register("aws-ssm", read_parameter, description="AWS SSM Parameter Store (SecureString)", extra="aws")
