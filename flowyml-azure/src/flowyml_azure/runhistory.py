"""A small client for Azure ML run history: run details (status, error, log files) and child runs.

azure-ai-ml has no public API for these (``jobs.stream`` reads them but prints to stdout), so we
call the same REST paths the SDK uses, with azure-core and the workspace's discovery document.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flowyml.plugins.clients import ClientCache
from flowyml_azure.client import config_key, ml_client, refused, retrying, transport_arguments
from flowyml_azure.config import AzureMLConfig
from flowyml_azure.credentials import resolve_credential


def _pipeline_client(base_url: str, config: AzureMLConfig, scope: str | None) -> Any:
    from azure.core import PipelineClient
    from azure.core.pipeline.policies import (
        BearerTokenCredentialPolicy,
        HeadersPolicy,
        RetryPolicy,
        UserAgentPolicy,
    )
    from azure.core.pipeline.transport import RequestsTransport

    policies: list[Any] = [HeadersPolicy(), UserAgentPolicy("flowyml-azure"), RetryPolicy(retry_total=0)]
    if scope:
        credential = resolve_credential(config.credential, config.authority_host)
        policies.append(BearerTokenCredentialPolicy(credential, scope))
    return PipelineClient(base_url, policies=policies, transport=RequestsTransport(**transport_arguments(config)))


class RunHistory:
    """Run history for one workspace (base URL found once through workspace discovery)."""

    def __init__(self, config: AzureMLConfig) -> None:
        self.config = config
        self._base: str | None = None
        self._api: Any = None
        self._raw = _pipeline_client("", config, None)  # absolute URLs only: discovery, SAS log files

    def _call(self, fn: Any, what: str) -> Any:
        """Retried; a refusal (403, 404, ...) becomes a BackendError naming what was asked."""
        try:
            return retrying(fn, what, self.config)
        except Exception as exc:
            raise refused(exc, what) from exc

    def _client(self) -> Any:
        if self._api is None:
            ml = ml_client(self.config)
            # Not retried here: every caller runs inside _call's retries.
            discovery_url = ml.workspaces.get(self.config.workspace_name).discovery_url
            urls = self._get_json(self._raw, discovery_url)
            self._base = str(urls["history"]).rstrip("/")
            scope = self.config.resource_manager + ".default"
            self._api = _pipeline_client(self._base, self.config, scope)
        return self._api

    @staticmethod
    def _get_json(client: Any, url: str, params: dict[str, str] | None = None) -> Any:
        from azure.core.rest import HttpRequest

        response = client.send_request(HttpRequest("GET", url, params=params or {}))
        response.raise_for_status()
        return response.json()

    def _run_url(self, run_id: str, suffix: str) -> str:
        self._client()
        return f"{self._base}/history/v1.0{self.config.workspace_path}/runs/{quote(run_id, safe='')}/{suffix}"

    def details(self, run_id: str) -> dict[str, Any]:
        """The run's details: ``status``, ``error``, ``logFiles`` (name -> SAS URL), timings."""
        return self._call(
            lambda: self._get_json(self._client(), self._run_url(run_id, "details")),
            f"get Azure ML run details of {run_id}",
        )

    def children(self, run_id: str) -> list[dict[str, Any]]:
        """The child runs of a pipeline job (one per node), following continuation tokens."""
        runs: list[dict[str, Any]] = []
        token: str | None = None
        for _page in range(1000):
            params = {"$continuationtoken": token} if token else {}
            page = self._call(
                lambda p=params: self._get_json(self._client(), self._run_url(run_id, "children"), p),
                f"list Azure ML child runs of {run_id}",
            )
            runs.extend(page.get("value") or [])
            token = page.get("continuationToken")
            if not token:
                break
        return runs

    def read_from(self, url: str, offset: int) -> bytes:
        """The bytes of a log file (a SAS URL) from ``offset`` on; empty if nothing new."""
        from azure.core.rest import HttpRequest

        def fetch() -> bytes:
            headers = {"x-ms-range": f"bytes={offset}-", "Range": f"bytes={offset}-"} if offset else {}
            response = self._raw.send_request(HttpRequest("GET", url, headers=headers))
            if response.status_code == 416:  # range starts at (or past) the end: nothing new
                return b""
            response.raise_for_status()
            data = response.read()
            return data[offset:] if offset and response.status_code == 200 else data

        return self._call(fetch, "read Azure ML log file")


_HISTORY: ClientCache[RunHistory] = ClientCache()


def run_history(config: AzureMLConfig) -> RunHistory:
    """The cached run-history client of the workspace."""
    return _HISTORY.get(config_key(config), lambda: RunHistory(config))
