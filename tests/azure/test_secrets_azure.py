"""azure-kv:// against a small fake on 127.0.0.1: the compute's managed identity (MSI_ENDPOINT, read by
azure-identity's real DefaultAzureCredential) and Key Vault's secrets REST API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from flowyml.core.errors import ConfigError
from flowyml.secrets import SecretError, check_delivery, resolve

MSI_SECRET = "msi-secret-for-the-fake"
TOKEN = "kv-access-token"
SECRETS = {"api-token": "kv-WALDO-5", "api-token/v2": "kv-v2"}


class _FakeVault(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []
    fail_first: list[int] = []

    def do_GET(self) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        if split.path == "/msi/token":  # App Service style managed identity, as Azure ML compute has
            if self.headers.get("secret") != MSI_SECRET:
                return self._reply(401, {"error": "bad secret"})
            self.seen.append(("token", query.get("resource")))
            return self._reply(200, {"access_token": TOKEN, "expires_on": "4102444800", "token_type": "Bearer",
                                     "resource": query.get("resource")})  # fmt: skip
        self.seen.append((split.path, self.headers.get("Authorization")))
        if self.fail_first:
            return self._reply(self.fail_first.pop(0), {"error": {"code": "Throttled", "message": "slow down"}})
        if self.headers.get("Authorization") != f"Bearer {TOKEN}" or query.get("api-version") != "7.4":
            return self._reply(401, {"error": {"code": "Unauthorized", "message": "no token"}})
        name = split.path.removeprefix("/secrets/")
        if name not in SECRETS:
            return self._reply(
                404, {"error": {"code": "SecretNotFound", "message": f"A secret with (name/id) {name} was not found"}}
            )
        return self._reply(200, {"value": SECRETS[name], "id": f"https://v.vault.azure.net/secrets/{name}"})

    def _reply(self, code: int, body: dict) -> None:
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def vault(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from flowyml_azure import secrets

    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeVault)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "IDENTITY_ENDPOINT", "IDENTITY_HEADER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MSI_ENDPOINT", f"{url}/msi/token")
    monkeypatch.setenv("MSI_SECRET", MSI_SECRET)
    monkeypatch.setenv("FLOWYML_AZURE_KEYVAULT_ENDPOINT", url)
    monkeypatch.setattr(secrets, "_CREDENTIAL", [])  # a credential per test: its token cache too
    _FakeVault.seen.clear()
    yield url
    server.shutdown()
    server.server_close()


def test_azure_kv_reads_with_the_managed_identity(vault: str) -> None:
    assert resolve("azure-kv://myvault/api-token") == "kv-WALDO-5"
    assert resolve("azure-kv://myvault/api-token/v2") == "kv-v2"
    assert ("token", "https://vault.azure.net") in _FakeVault.seen
    assert ("/secrets/api-token", f"Bearer {TOKEN}") in _FakeVault.seen


def test_azure_kv_retries_throttling_and_names_what_is_missing(vault: str) -> None:
    _FakeVault.fail_first[:] = [429, 503]
    assert resolve("azure-kv://myvault/api-token") == "kv-WALDO-5"
    with pytest.raises(SecretError, match=r"azure-kv://myvault/nope: HTTP 404 SecretNotFound A secret with"):
        resolve("azure-kv://myvault/nope")
    with pytest.raises(SecretError, match=r"expected azure-kv://VAULT/NAME\[/VERSION\]"):
        resolve("azure-kv://only-a-vault")


def test_azureml_takes_azure_kv_and_refuses_env_references() -> None:
    from flowyml.plugins.manager import get_plugin_manager

    azureml = get_plugin_manager().backend("azureml")
    check_delivery({"API_TOKEN": "azure-kv://myvault/api-token"}, azureml)
    with pytest.raises(ConfigError, match=r'write `API_TOKEN: \{secret: "azure-kv://..."\}`'):
        check_delivery({"API_TOKEN": "env://API_TOKEN"}, azureml)
