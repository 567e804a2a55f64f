"""The azure-ai-ml ``MLClient`` for a config, the transient-error predicate, and retried calls.

azure-core's own retries are switched off (``retry_total=0``) so that every SDK call is retried
in exactly one place, :func:`flowyml.plugins.retry.call_with_retry`, which honours
``Retry-After`` and is tuned by ``FLOWYML_BACKEND_RETRY_*``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from flowyml.core.errors import BackendError, FlowymlError, RunNotFoundError
from flowyml.plugins.retry import call_with_retry
from flowyml.plugins.types import converter
from flowyml_azure.config import AzureMLConfig
from flowyml_azure.credentials import resolve_credential

T = TypeVar("T")
log = logging.getLogger("flowyml.azure")
_CLIENTS: dict[str, Any] = {}
_LOCK = threading.Lock()
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def config_key(config: AzureMLConfig) -> str:
    return json.dumps(converter().unstructure(config), sort_keys=True, default=str)


def cloud_arguments(config: AzureMLConfig) -> dict[str, Any]:
    """MLClient's cloud keywords: a named cloud, or a custom one around ``arm_endpoint``.

    azure-ai-ml keeps custom clouds in a process-wide table where the first definition of a
    name wins, so the name is derived from every endpoint it stands for. All six metadata keys
    are required: with one missing the SDK silently asks management.azure.com instead.
    """
    if config.arm_endpoint:
        arm = config.resource_manager
        authority = (config.authority_host or "https://login.microsoftonline.com/").rstrip("/") + "/"
        metadata = {
            "resource_manager": arm,
            "active_directory": authority,
            "aml_resource_id": config.aml_audience.rstrip("/") + "/",
            "azure_portal": arm,
            "storage_endpoint": config.storage_suffix,
            "registry_discovery_endpoint": arm,
        }
        digest = hashlib.sha256(json.dumps(metadata, sort_keys=True).encode()).hexdigest()[:12]
        return {"cloud": f"flowyml-{digest}", "cloud_metadata": metadata}
    if config.cloud:
        return {"cloud": config.cloud}
    return {}


def transport_arguments(config: AzureMLConfig) -> dict[str, Any]:
    return {"connection_verify": config.ca_bundle} if config.ca_bundle else {}


def ml_client(config: AzureMLConfig) -> Any:
    """The (cached) MLClient for ``config``; imports azure.ai.ml on first use."""
    key = config_key(config)
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is not None:
            return client
        logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)
        from azure.ai.ml import MLClient

        credential = resolve_credential(config.credential, config.authority_host)
        before = os.environ.get("AZUREML_CURRENT_CLOUD")
        try:
            client = MLClient(
                credential, config.subscription_id, config.resource_group, config.workspace_name,
                enable_telemetry=False, show_progress=False, retry_total=0,
                **cloud_arguments(config), **transport_arguments(config),
            )
        finally:
            # MLClient writes the cloud it used into the process environment; don't leak it.
            if before is None:
                os.environ.pop("AZUREML_CURRENT_CLOUD", None)
            else:
                os.environ["AZUREML_CURRENT_CLOUD"] = before
        _CLIENTS[key] = client
        return client


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        if headers.get(name):
            try:
                return float(headers[name]) / 1000
            except ValueError:
                continue
    value = headers.get("Retry-After") or headers.get("retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            return None
    return None


def status_code(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    if code is None and getattr(exc, "response", None) is not None:
        code = getattr(exc.response, "status_code", None)
    return code


def transient(exc: BaseException) -> bool | float:
    """True (or the seconds of ``Retry-After``) for throttling, 5xx, timeouts and dropped
    connections, wherever they sit in the exception chain; False for everything else."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    for err in _chain(exc):
        if isinstance(err, (ServiceRequestError, ServiceResponseError, ConnectionError, TimeoutError)):
            return True
        if isinstance(err, HttpResponseError):
            code = status_code(err)
            if code in TRANSIENT_STATUS:
                wait = _retry_after(getattr(err, "response", None))
                return wait if wait is not None else True
            if code is not None:
                return False
    return False


def is_not_found(exc: BaseException) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    return any(isinstance(e, ResourceNotFoundError) or status_code(e) == 404 for e in _chain(exc))


def is_conflict(exc: BaseException) -> bool:
    from azure.core.exceptions import ResourceExistsError

    return any(isinstance(e, ResourceExistsError) or status_code(e) == 409 for e in _chain(exc))


def retrying(fn: Callable[[], T], what: str) -> T:
    """``call_with_retry`` with the Azure predicate."""
    return call_with_retry(fn, transient=transient, what=what)


def refused(exc: Exception, what: str) -> FlowymlError:
    """A flowyml error for a non-transient SDK failure (our own errors pass through unchanged)."""
    if isinstance(exc, FlowymlError):
        return exc
    message = getattr(exc, "message", None) or str(exc)
    return BackendError(f"{what} failed: {type(exc).__name__}: {message}")


def get_job(config: AzureMLConfig, name: str) -> Any:
    """``jobs.get`` with retries; :class:`RunNotFoundError` if the workspace has no such job."""
    ml = ml_client(config)
    try:
        return retrying(lambda: ml.jobs.get(name), f"get Azure ML job {name}")
    except Exception as exc:
        if is_not_found(exc):
            raise RunNotFoundError(f"Azure ML workspace {config.workspace_name} has no job {name!r}") from exc
        raise refused(exc, f"reading Azure ML job {name}") from exc
