"""AWS Batch's own secret injection: ``aws-sm://`` / ``aws-ssm://`` references as job-definition ``secrets``.

Batch (the ECS agent, with the job definition's *execution role*) reads each ``valueFrom`` when the
container starts and sets the variable; the step-runner is told by ``FLOWYML_NATIVE_SECRETS`` that
those names are injected, so it only masks their values. Only references travel: a Secrets Manager
ARN (a name is turned into its ARN with ``DescribeSecret``, which reads no value) with
``:json-key::`` for ``#key``, or an SSM parameter name or ARN.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowyml.core.errors import ConfigError
from flowyml.secrets import parse_ref
from flowyml_aws.client import backend_error, call, client_for, error_code
from flowyml_aws.config import AWSBatchConfig

#: the schemes Batch injects itself
NATIVE_SCHEMES = frozenset({"aws-sm", "aws-ssm"})


def native_names(refs: Mapping[str, str]) -> list[str]:
    """The env names of ``refs`` that Batch injects, sorted."""
    return sorted(name for name, ref in refs.items() if parse_ref(ref, f"docker.env_vars.{name}")[0] in NATIVE_SCHEMES)


def _secret_arn(config: AWSBatchConfig, secret_id: str, name: str) -> str:
    """The ARN of a Secrets Manager secret given by name or ARN (``DescribeSecret``: metadata only)."""
    from botocore.exceptions import ClientError

    if secret_id.startswith("arn:"):
        return secret_id
    sm = client_for("secretsmanager", config)
    try:
        answer = call(lambda: sm.describe_secret(SecretId=secret_id), f"Secrets Manager DescribeSecret {secret_id}")
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise ConfigError(
                f"docker.env_vars.{name}: Secrets Manager has no secret {secret_id!r} in "
                f"{sm.meta.region_name}: create it, or fix the reference (a name or an ARN)"
            ) from None
        raise backend_error(
            f"docker.env_vars.{name}: Secrets Manager DescribeSecret {secret_id} (to give Batch its ARN; "
            "grant secretsmanager:DescribeSecret to the submitter, or write the secret's ARN)",
            exc,
        ) from exc
    return str(answer["ARN"])


def entries(config: AWSBatchConfig, refs: Mapping[str, str]) -> list[dict[str, str]]:
    """``containerProperties.secrets`` for the Batch-injected references: ``[{name, valueFrom}]`` by name."""
    out = []
    for name in native_names(refs):
        scheme, path = parse_ref(refs[name], f"docker.env_vars.{name}")
        if scheme == "aws-sm":
            secret_id, _, key = path.partition("#")
            arn = _secret_arn(config, secret_id, name)
            out.append({"name": name, "valueFrom": f"{arn}:{key}::" if key else arn})
        else:  # an SSM parameter: its name (in the job's region) or its ARN
            out.append({"name": name, "valueFrom": path})
    return out


def merged(own: list[dict[str, Any]], ours: list[dict[str, str]]) -> list[dict[str, str]]:
    """The job definition's own ``secrets`` with ours added (ours win on a name), sorted by name."""
    names = {s["name"] for s in ours}
    kept = [{"name": str(s["name"]), "valueFrom": str(s["valueFrom"])} for s in own if s.get("name") not in names]
    return sorted([*kept, *ours], key=lambda s: s["name"])
