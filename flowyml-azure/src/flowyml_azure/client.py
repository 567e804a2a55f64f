"""The azure-ai-ml ``MLClient`` for a config, the configured cloud, and retried, translated calls.

azure-core's own retries are switched off (``retry_total=0``) so that every SDK call is retried
in exactly one place, :func:`flowyml.plugins.retry.call_with_retry`, which honours
``Retry-After``, spends the process's retry budget and is where the conformance kit injects faults.

azure-ai-ml reads the cloud it talks to from ``os.environ["AZUREML_CURRENT_CLOUD"]`` at call
time (pipeline submission's token audience, studio URLs), not only when ``MLClient`` is built.
:func:`retrying` therefore sets that variable around each call of a config with a ``cloud`` or
``arm_endpoint``, and puts the user's value back afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from flowyml.core.errors import AuthError, BackendError, FlowymlError, RefusedError, RunNotFoundError
from flowyml.plugins.clients import ClientCache
from flowyml.plugins.retry import call_with_retry
from flowyml.plugins.types import converter
from flowyml_azure.config import AzureMLConfig
from flowyml_azure.credentials import resolve_credential

T = TypeVar("T")
log = logging.getLogger("flowyml.azure")
CLOUD_VARIABLE = "AZUREML_CURRENT_CLOUD"
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_CLIENTS: ClientCache[Any] = ClientCache()


def config_key(config: AzureMLConfig) -> str:
    return json.dumps(converter().unstructure(config), sort_keys=True, default=str)


def _custom_cloud(config: AzureMLConfig) -> tuple[str, dict[str, str]]:
    """A custom cloud's name and metadata (all six keys: with one missing the SDK silently asks
    management.azure.com). azure-ai-ml keeps custom clouds in a process-wide table where the first
    definition of a name wins, so the name is derived from every endpoint it stands for."""
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
    return f"flowyml-{digest}", metadata


def cloud_name(config: AzureMLConfig) -> str | None:
    """The cloud azure-ai-ml must use for ``config`` (None: whatever the user's environment says)."""
    if config.arm_endpoint:
        return _custom_cloud(config)[0]
    return config.cloud


def cloud_arguments(config: AzureMLConfig) -> dict[str, Any]:
    """MLClient's cloud keywords: a named cloud, or a custom one around ``arm_endpoint``."""
    if config.arm_endpoint:
        name, metadata = _custom_cloud(config)
        return {"cloud": name, "cloud_metadata": metadata}
    return {"cloud": config.cloud} if config.cloud else {}


class _CloudEnvironment:
    """``AZUREML_CURRENT_CLOUD`` set while calls need it, the user's value restored after.

    Calls for the same cloud share the setting; a call for another cloud waits until the
    variable is free (one process rarely talks to two clouds at once).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._cloud: str | None = None
        self._users = 0
        self._saved: str | None = None

    @contextlib.contextmanager
    def using(self, cloud: str | None) -> Iterator[None]:
        if cloud is None:
            yield
            return
        with self._cond:
            while self._users and self._cloud != cloud:
                self._cond.wait()
            if not self._users:
                self._saved, self._cloud = os.environ.get(CLOUD_VARIABLE), cloud
            self._users += 1
            os.environ[CLOUD_VARIABLE] = cloud  # MLClient() overwrites it: set again on entry
        try:
            yield
        finally:
            with self._cond:
                self._users -= 1
                if not self._users:
                    if self._saved is None:
                        os.environ.pop(CLOUD_VARIABLE, None)
                    else:
                        os.environ[CLOUD_VARIABLE] = self._saved
                    self._cloud = None
                    self._cond.notify_all()


_CLOUD = _CloudEnvironment()


def in_cloud(config: AzureMLConfig) -> contextlib.AbstractContextManager[None]:
    """The configured cloud in effect for the SDK calls made inside the block."""
    return _CLOUD.using(cloud_name(config))


def transport_arguments(config: AzureMLConfig) -> dict[str, Any]:
    return {"connection_verify": config.ca_bundle} if config.ca_bundle else {}


def ml_client(config: AzureMLConfig) -> Any:
    """The (cached) MLClient for ``config``; imports azure.ai.ml on first use."""

    def build() -> Any:
        logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)
        from azure.ai.ml import MLClient  # outside in_cloud: the import reads the cloud, a custom one is not known yet

        credential = resolve_credential(config.credential, config.authority_host)
        with in_cloud(config):
            return MLClient(
                credential,
                config.subscription_id,
                config.resource_group,
                config.workspace_name,
                enable_telemetry=False,
                show_progress=False,
                retry_total=0,
                **cloud_arguments(config),
                **transport_arguments(config),
            )

    return _CLIENTS.get(config_key(config), build)


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and its causes / contexts, each once."""
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
        code = getattr(exc.response, "status_code", None)  # type: ignore[attr-defined]
    return code if isinstance(code, int) else None


def transient(exc: BaseException) -> bool | float:
    """True (or the seconds of ``Retry-After``) for throttling, 5xx, timeouts and dropped
    connections, wherever they sit in the exception chain; False for everything else."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    for err in chain(exc):
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

    return any(isinstance(e, ResourceNotFoundError) or status_code(e) == 404 for e in chain(exc))


def is_conflict(exc: BaseException) -> bool:
    from azure.core.exceptions import ResourceExistsError

    return any(isinstance(e, ResourceExistsError) or status_code(e) == 409 for e in chain(exc))


def retrying(fn: Callable[[], T], what: str, config: AzureMLConfig | None = None) -> T:
    """``call_with_retry`` with the Azure predicate; with ``config``, in its cloud."""
    if config is None or cloud_name(config) is None:
        return call_with_retry(fn, transient=transient, what=what)
    ml_client(config)  # registers a custom cloud before its name is set (azure.ai.ml reads it on import)

    def in_its_cloud() -> T:
        with in_cloud(config):
            return fn()

    return call_with_retry(in_its_cloud, transient=transient, what=what)


def _first_line(exc: BaseException) -> str:
    message = str(getattr(exc, "message", None) or exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__


def _one_line(exc: BaseException, limit: int = 400) -> str:
    """The whole message on one line (SDK validation errors are indented JSON)."""
    text = " ".join(str(getattr(exc, "message", None) or exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


SET_CREDENTIAL = (
    "set orchestrator.credential (default, cli, managed_identity, environment, workload_identity or "
    "'module:factory'), e.g. run `az login` for cli"
)


def translate(exc: BaseException, what: str) -> FlowymlError | None:
    """The typed flowyml error for an SDK exception anywhere in ``exc``'s chain, or None.

    Missing or rejected credentials and 401/403 become :class:`AuthError` (one line: what to
    set); 400/409 a :class:`RefusedError`. Our own errors pass through unchanged.
    """
    if isinstance(exc, FlowymlError):
        return exc
    try:
        from azure.core.exceptions import ClientAuthenticationError
    except ImportError:  # pragma: no cover - the plugin's own extra is installed
        return None
    for err in chain(exc):
        code = status_code(err)
        if code == 403:
            return AuthError(
                f"{what}: the Azure identity lacks permission (HTTP 403: {_first_line(err)}); grant it a role "
                "such as 'AzureML Data Scientist' on the workspace, or set orchestrator.credential to one that has it"
            )
        if code == 401:
            return AuthError(f"{what}: Azure rejected the credential (HTTP 401); {SET_CREDENTIAL}")
        if isinstance(err, ClientAuthenticationError):  # CredentialUnavailableError and other token failures
            return AuthError(f"{what}: no usable Azure credential ({_first_line(err)}); {SET_CREDENTIAL}")
        if code in (400, 409):
            return RefusedError(f"{what}: Azure ML refused the request (HTTP {code}): {_one_line(err)}")
    return None


def refused(exc: Exception, what: str) -> FlowymlError:
    """A flowyml error for a non-transient SDK failure (typed where :func:`translate` knows)."""
    return translate(exc, what) or BackendError(f"{what} failed: {type(exc).__name__}: {_one_line(exc)}")


def get_job(config: AzureMLConfig, name: str) -> Any:
    """``jobs.get`` with retries; :class:`RunNotFoundError` if the workspace has no such job."""
    ml = ml_client(config)
    try:
        return retrying(lambda: ml.jobs.get(name), f"get Azure ML job {name}", config)
    except Exception as exc:
        if is_not_found(exc):
            raise RunNotFoundError(f"Azure ML workspace {config.workspace_name} has no job {name!r}") from exc
        raise refused(exc, f"reading Azure ML job {name}") from exc
