"""Registers ``aws_batch``, ``sagemaker`` and ``s3://``. Imports no boto3: the SDK loads inside the hooks."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from flowyml.plugins import BackendInfo, JobSpec, LogRecord, RunHandle, StatusReport, StoreInfo, hookimpl
from flowyml_aws.config import AWSBatchConfig, SageMakerConfig
from flowyml_aws.states import BATCH_STATES, SAGEMAKER_STATES

BATCH, SAGEMAKER = "aws_batch", "sagemaker"


def _impl(backend: str) -> Any:
    if backend == BATCH:
        from flowyml_aws import batch

        return batch
    if backend == SAGEMAKER:
        from flowyml_aws import sagemaker

        return sagemaker
    return None


@hookimpl
def flowyml_register_backends(register: Any) -> None:
    register(
        BackendInfo(
            name=BATCH,
            config_class=AWSBatchConfig,
            description="AWS Batch: one job per execution unit, the DAG as dependsOn (boto3).",
            capabilities={"dag", "cancel", "logs", "details", "gpu", "parallel"},
            native_states=BATCH_STATES,
            extra="aws",
            orchestrator="flowyml.stacks.aws.AWSBatchOrchestrator",
        )
    )
    register(
        BackendInfo(
            name=SAGEMAKER,
            config_class=SageMakerConfig,
            description="Amazon SageMaker training jobs, one per execution unit; flowyml starts each "
            "when its dependencies completed (boto3).",
            capabilities={"dag", "cancel", "logs", "details", "gpu"},
            native_states=SAGEMAKER_STATES,
            extra="aws",
            orchestrator="flowyml.stacks.aws.SageMakerOrchestrator",
        )
    )


@hookimpl
def flowyml_register_stores(register: Any) -> None:
    register(
        StoreInfo("s3", "Amazon S3 (and S3-compatible endpoints): whole-object PUTs, multipart for large data.", "aws")
    )


@hookimpl
def flowyml_submit(backend: str, spec: JobSpec, config: Any) -> RunHandle | None:
    impl = _impl(backend)
    return None if impl is None else impl.submit(spec, config)


@hookimpl
def flowyml_status(handle: RunHandle, config: Any) -> StatusReport | None:
    impl = _impl(handle.backend)
    return None if impl is None else impl.status(handle, config)


@hookimpl
def flowyml_status_many(backend: str, handles: list[RunHandle], config: Any) -> Mapping[str, StatusReport] | None:
    if backend != BATCH:
        return None  # SageMaker has no batched describe: flowyml asks run by run
    from flowyml_aws.batch import poll_many

    return poll_many(handles, config)


@hookimpl
def flowyml_cancel(handle: RunHandle, config: Any, graceful: bool) -> bool | None:
    impl = _impl(handle.backend)
    return None if impl is None else impl.cancel(handle, config)


@hookimpl
def flowyml_logs(handle: RunHandle, config: Any, cursor: str | None, follow: bool) -> Iterator[LogRecord] | None:
    impl = _impl(handle.backend)
    if impl is None:
        return None
    from flowyml_aws.client import call, client_for
    from flowyml_aws.logs import read_logs

    return read_logs(
        client_for("logs", config),
        sources=lambda: impl.log_sources(handle, config),
        is_finished=lambda: impl.status(handle, config).status.is_finished,
        cursor=cursor,
        follow=follow,
        call=call,
        poll=float(os.environ.get("FLOWYML_AWS_LOG_POLL", "2")),
    )


@hookimpl
def flowyml_details(handle: RunHandle, config: Any) -> Mapping[str, Any] | None:
    impl = _impl(handle.backend)
    return None if impl is None else impl.details(handle, config)


@hookimpl
def flowyml_storage(uri: str, settings: Mapping[str, Any]) -> Any:
    if not uri.startswith("s3://"):
        return None
    from flowyml_aws.store import S3Storage

    return S3Storage(uri, settings)
