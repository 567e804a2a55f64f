"""Registers ``aws_batch``, ``sagemaker`` and ``s3://``. Imports no boto3: the SDK loads inside the methods."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from flowyml.core.errors import FlowymlError
from flowyml.plugins import Backend, JobSpec, LogRecord, RunHandle, StatusReport, hookimpl
from flowyml.plugins.hookspecs import RegisterBackend, RegisterStore
from flowyml.plugins.schedules import ScheduleInfo, ScheduleSpec
from flowyml_aws.config import AWSBatchConfig, SageMakerConfig
from flowyml_aws.secrets import flowyml_register_secrets  # noqa: F401  (the aws-sm:// and aws-ssm:// resolvers)
from flowyml_aws.states import BATCH_STATES, SAGEMAKER_STATES


class _AWSBackend(Backend):
    """What Batch and SageMaker share: the implementation module, CloudWatch logs, AWS errors."""

    extra = "aws"
    #: jobs run on AWS machines: a ``file://`` artifact store on the submitting machine is refused
    needs_remote_store = True
    #: SageMaker: resolved in the job by the step-runner (flowyml_aws.secrets); Batch injects them (batch_secrets)
    secret_schemes = frozenset({"aws-sm", "aws-ssm"})

    def impl(self) -> ModuleType:
        raise NotImplementedError

    def schedules(self) -> ModuleType:
        """The module of the backend's native schedules (EventBridge Scheduler)."""
        raise NotImplementedError

    def submit(self, spec: JobSpec, config: Any) -> RunHandle:
        return self.impl().submit(spec, config)

    def find(self, spec: JobSpec, config: Any) -> RunHandle | None:
        return self.impl().find(spec, config)

    def status(self, handle: RunHandle, config: Any) -> StatusReport:
        return self.impl().status(handle, config)

    def cancel(self, handle: RunHandle, config: Any, graceful: bool) -> bool:
        return bool(self.impl().cancel(handle, config))

    def logs(self, handle: RunHandle, config: Any, cursor: str | None) -> Iterable[LogRecord]:
        from flowyml_aws.client import call, client_for
        from flowyml_aws.logs import read_logs

        return read_logs(
            client_for("logs", config),
            sources=lambda: self.impl().log_sources(handle, config),
            cursor=cursor,
            call=call,
        )

    def details(self, handle: RunHandle, config: Any) -> Mapping[str, Any]:
        return self.impl().details(handle, config)

    def translate_error(self, exc: BaseException, operation: str) -> FlowymlError | None:
        """AccessDenied / unknown or expired credentials -> AuthError, a refused request -> RefusedError."""
        from flowyml_aws.client import typed_error

        return typed_error(f"{self.name} {operation}", exc)

    # -- native schedules: EventBridge Scheduler (flowyml_aws.schedules) -----------------------
    def schedule_create(self, schedule: ScheduleSpec, config: Any) -> ScheduleInfo:
        return self.schedules().create(schedule, config)

    def schedule_list(self, config: Any) -> list[ScheduleInfo]:
        return self.schedules().list_all(config)

    def schedule_pause(self, name: str, config: Any) -> ScheduleInfo:
        return self.schedules().pause(name, config)

    def schedule_resume(self, name: str, config: Any) -> ScheduleInfo:
        return self.schedules().resume(name, config)

    def schedule_delete(self, name: str, config: Any) -> bool:
        return bool(self.schedules().delete(name, config))

    def schedule_runs(self, name: str, config: Any) -> list[RunHandle]:
        return self.schedules().runs(name, config)

    def store_settings(self, config: Any, settings: Mapping[str, str]) -> dict[str, str]:
        """The orchestrator's region (and endpoint) reach an ``s3://`` store that sets none."""
        merged = dict(settings)
        if config.region and not merged.get("region"):
            merged["region"] = config.region
        return merged


class BatchBackend(_AWSBackend):
    name = "aws_batch"
    config_class = AWSBatchConfig
    description = "AWS Batch: one job per execution unit, the DAG as dependsOn (boto3)."
    capabilities = frozenset({"dag", "cancel", "logs", "details", "gpu", "parallel", "schedules"})
    native_states = BATCH_STATES
    orchestrator = "flowyml.stacks.aws.AWSBatchOrchestrator"

    def impl(self) -> ModuleType:
        from flowyml_aws import batch

        return batch

    def schedules(self) -> ModuleType:
        from flowyml_aws import batch_schedules

        return batch_schedules

    def status_many(self, handles: list[RunHandle], config: Any) -> Mapping[str, StatusReport]:
        from flowyml_aws.batch import poll_many

        return poll_many(handles, config)


class SageMakerBackend(_AWSBackend):
    name = "sagemaker"
    config_class = SageMakerConfig
    description = (
        "Amazon SageMaker: a single-unit run is a training job; a multi-unit run is a SageMaker Pipeline of "
        "Training steps with DependsOn, so the DAG runs inside AWS (boto3)."
    )
    capabilities = frozenset({"dag", "cancel", "logs", "details", "gpu", "schedules"})
    native_states = SAGEMAKER_STATES
    orchestrator = "flowyml.stacks.aws.SageMakerOrchestrator"

    def impl(self) -> ModuleType:
        from flowyml_aws import sagemaker

        return sagemaker

    def schedules(self) -> ModuleType:
        from flowyml_aws import sagemaker_schedules

        return sagemaker_schedules


def _s3_storage(uri: str, settings: Mapping[str, Any]) -> Any:
    from flowyml_aws.store import S3Storage

    return S3Storage(uri, settings)


@hookimpl
def flowyml_register_backends(register: RegisterBackend) -> None:
    register(BatchBackend())
    register(SageMakerBackend())


@hookimpl
def flowyml_register_stores(register: RegisterStore) -> None:
    register(
        "s3",
        _s3_storage,
        description="Amazon S3 (and S3-compatible endpoints): whole-object PUTs, multipart for large data.",
        extra="aws",
    )
