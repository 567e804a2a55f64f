"""Azure Key Vault for Azure ML jobs: ``azure-kv://VAULT/NAME[/VERSION]``.

Resolved inside the job, by the step-runner at start-up, with the compute's managed identity
(``DefaultAzureCredential``; it needs the *Key Vault Secrets User* role on the vault), through Key
Vault's REST API (``GET /secrets/NAME/VERSION``) — no extra SDK. ``VAULT`` is the vault's name
(``https://VAULT.vault.azure.net``) or its host (a sovereign cloud's ``VAULT.vault.azure.cn``).
``$FLOWYML_AZURE_KEYVAULT_ENDPOINT`` replaces the vault URL (a private endpoint).
"""

from __future__ import annotations

import os
from typing import Any

from flowyml.plugins import hookimpl
from flowyml.plugins.hookspecs import RegisterSecret
from flowyml.plugins.retry import call_with_retry
from flowyml.secrets import SecretError

ENDPOINT_ENV = "FLOWYML_AZURE_KEYVAULT_ENDPOINT"
API_VERSION = "7.4"
SCOPE = "https://vault.azure.net/.default"
_CREDENTIAL: list[Any] = []


def _token() -> str:
    if not _CREDENTIAL:
        from azure.identity import DefaultAzureCredential

        _CREDENTIAL.append(DefaultAzureCredential(exclude_interactive_browser_credential=True))
    return str(_CREDENTIAL[0].get_token(SCOPE).token)


def _transient(exc: BaseException) -> bool:
    import requests  # type: ignore[import-untyped]  # installed with azure-core

    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return True
    response = getattr(exc, "response", None)
    return response is not None and (response.status_code == 429 or response.status_code >= 500)


def read_secret(path: str) -> str:
    """The value of ``azure-kv://VAULT/NAME[/VERSION]`` (the current version by default)."""
    import requests

    parts = path.strip("/").split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise SecretError(f"azure-kv://{path}: expected azure-kv://VAULT/NAME[/VERSION]")
    vault, name, version = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
    host = vault if "." in vault else f"{vault}.vault.azure.net"
    base = os.environ.get(ENDPOINT_ENV, f"https://{host}").rstrip("/")
    url = f"{base}/secrets/{name}/{version}".rstrip("/")

    def get() -> Any:
        response = requests.get(
            url, params={"api-version": API_VERSION}, headers={"Authorization": f"Bearer {_token()}"}, timeout=30
        )
        response.raise_for_status()
        return response.json()

    try:
        answer = call_with_retry(get, transient=_transient, what=f"Key Vault get secret {vault}/{name}")
    except requests.HTTPError as exc:
        error = {}
        try:
            error = exc.response.json().get("error", {})
        except ValueError:
            pass
        said = f"{error.get('code', '')} {error.get('message', '')}".strip()
        raise SecretError(f"azure-kv://{path}: HTTP {exc.response.status_code} {said}".rstrip()) from None
    return str(answer["value"])


@hookimpl
def flowyml_register_secrets(register: RegisterSecret) -> None:
    register("azure-kv", read_secret, description="Azure Key Vault (the compute's managed identity)", extra="azure")
