"""Settings of the ``aws_batch`` and ``sagemaker`` backends (frozen attrs, no AWS SDK import).

Credentials normally come from boto3's usual chain (environment, ``~/.aws``, an instance or task
role); the optional key fields are marked secret so they never reach run metadata or the registry.
"""

from __future__ import annotations

__all__ = ["AWSConnection", "AWSBatchConfig", "SageMakerConfig", "S3Settings"]

import re

import attrs

from flowyml.config.errors import ConfigFieldError, describe

_SECRET = {"secret": True}
_GROUP = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")
#: the form botocore accepts for a region name (it refuses others when the client is built)
_REGION = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
_REGION_TEXT = "an AWS region name such as eu-west-1"


def _region(_inst: object, attr: attrs.Attribute, value: str | None) -> None:
    if value is not None and not (isinstance(value, str) and _REGION.match(value)):
        raise ConfigFieldError(
            attr.name, _REGION_TEXT, describe(value), hint="letters, digits and '-' (aws ec2 describe-regions)"
        )


def _positive(_inst: object, attr: attrs.Attribute, value: int) -> None:
    if value is not None and value <= 0:
        raise ConfigFieldError(attr.name, "a number > 0", describe(value))


_ROLE = "the execution role's ARN (arn:aws:iam::<account>:role/<name>)"
_SCHEDULER_ROLE = "the IAM role EventBridge Scheduler assumes to start each firing (arn:aws:iam::<account>:role/<name>)"


def _require(config: object, **expected: str) -> None:
    for name, what in expected.items():
        if not getattr(config, name):
            raise ConfigFieldError.missing(name, what)


@attrs.define(frozen=True)
class AWSConnection:
    """How to reach AWS: region, optional endpoint (LocalStack, VPC endpoints) and profile.

    With no ``region``, boto3's chain decides (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the
    profile); the region found is passed to every job and to an ``s3://`` store that sets none.
    """

    region: str | None = attrs.field(default=None, validator=_region)
    endpoint_url: str | None = None
    profile: str | None = None
    aws_access_key_id: str | None = attrs.field(default=None, metadata=_SECRET, repr=False)
    aws_secret_access_key: str | None = attrs.field(default=None, metadata=_SECRET, repr=False)
    aws_session_token: str | None = attrs.field(default=None, metadata=_SECRET, repr=False)


@attrs.define(frozen=True)
class AWSBatchConfig(AWSConnection):
    """``aws_batch``: one Batch job per execution unit on ``job_queue`` with ``job_definition``.

    ``parameters`` are passed to every job (``Ref::name`` in the job definition);
    ``job_name_prefix`` starts every job name; ``log_group`` is where the job definition's
    ``awslogs`` driver writes (Batch's default ``/aws/batch/job``); ``tags`` are added to jobs.
    """

    job_queue: str | None = None
    job_definition: str | None = None
    parameters: dict[str, str] = attrs.field(factory=dict)
    job_name_prefix: str = "flowyml"
    log_group: str = "/aws/batch/job"
    tags: dict[str, str] = attrs.field(factory=dict)
    retry_attempts: int | None = attrs.field(default=None, validator=_positive)
    share_identifier: str | None = None
    scheduling_priority: int | None = None
    #: schedules: the IAM role EventBridge Scheduler assumes to submit each firing's launcher job
    scheduler_role_arn: str | None = None
    #: schedules: the EventBridge Scheduler schedule group (created when missing)
    schedule_group: str = "flowyml"

    def validate(self) -> None:
        """Raise :class:`ConfigFieldError` naming the first required field that is not set (no AWS call)."""
        _require(
            self,
            job_queue="the Batch job queue (name or ARN)",
            job_definition="the Batch job definition (name, name:revision or ARN)",
        )


@attrs.define(frozen=True)
class SageMakerConfig(AWSConnection):
    """``sagemaker``: a training job for a single-unit run, a SageMaker Pipeline for a multi-unit one.

    ``image`` is used when the stack sets no ``docker.image``. ``output_path`` is the training
    jobs' S3 output location (default: ``<artifact root>/sagemaker``).
    """

    role_arn: str | None = None
    image: str | None = None
    default_instance_type: str = "ml.m5.xlarge"
    default_instance_count: int = attrs.field(default=1, validator=_positive)
    volume_size_gb: int = attrs.field(default=50, validator=_positive)
    output_path: str | None = None
    max_runtime_seconds: int = attrs.field(default=86400, validator=_positive)
    job_name_prefix: str = "flowyml"
    log_group: str = "/aws/sagemaker/TrainingJobs"
    tags: dict[str, str] = attrs.field(factory=dict)
    subnets: list[str] = attrs.field(factory=list)
    security_group_ids: list[str] = attrs.field(factory=list)
    volume_kms_key_id: str | None = None
    #: a multi-unit run's pipeline runs at most this many steps at once (None: all that are ready)
    max_parallel_steps: int | None = attrs.field(default=None, validator=_positive)
    #: schedules: the IAM role EventBridge Scheduler assumes to start each firing's pipeline execution
    scheduler_role_arn: str | None = None
    #: schedules: the EventBridge Scheduler schedule group (created when missing)
    schedule_group: str = "flowyml"

    def validate(self) -> None:
        """Raise :class:`ConfigFieldError` naming the first field that cannot work (no AWS call)."""
        _require(self, role_arn=_ROLE)
        if not str(self.role_arn).startswith("arn:"):
            raise ConfigFieldError("role_arn", _ROLE, describe(self.role_arn))


def validate_schedules(config: AWSBatchConfig | SageMakerConfig, backend: str, needs: str) -> None:
    """The schedule fields (only when a schedule is created): a clear error naming the field and the fix."""
    hint = (
        f"set `scheduler_role_arn:` in the {backend} stack's orchestrator settings in flowyml.yaml: a role that "
        f"scheduler.amazonaws.com may assume, allowed {needs} (docs/backends/aws.md#schedules)"
    )
    role = config.scheduler_role_arn
    if not role:
        raise ConfigFieldError.missing("scheduler_role_arn", _SCHEDULER_ROLE, hint=hint)
    if not str(role).startswith("arn:") or ":role/" not in str(role):
        raise ConfigFieldError("scheduler_role_arn", _SCHEDULER_ROLE, describe(role), hint=hint)
    group = config.schedule_group
    if not group or not _GROUP.match(group):
        raise ConfigFieldError("schedule_group", "a group name ([0-9A-Za-z_.-], 1-64 characters)", describe(group))


@attrs.define(frozen=True)
class S3Settings:
    """Non-secret settings of ``s3://`` storage (``artifact_store.settings`` in ``flowyml.yaml``)."""

    endpoint_url: str | None = None
    region: str | None = attrs.field(default=None, validator=_region)
    profile: str | None = None
    addressing_style: str | None = None
    multipart_threshold_mb: int = 64
    multipart_chunk_mb: int = 16

    @classmethod
    def from_mapping(cls, settings: dict) -> S3Settings:
        known = {f.name for f in attrs.fields(cls)}
        data = {k: v for k, v in settings.items() if k in known and v not in (None, "")}
        for key in ("multipart_threshold_mb", "multipart_chunk_mb"):
            if key in data:
                data[key] = int(data[key])
        try:
            return cls(**data)
        except ConfigFieldError as exc:  # name the setting where the user wrote it
            raise ConfigFieldError(
                f"artifact_store.settings.{exc.key}", exc.expected, exc.found, hint=exc.hint
            ) from None
