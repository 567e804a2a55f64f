"""gcp-sm:// against a small fake Secret Manager REST endpoint on 127.0.0.1 (google-auth's real session)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flowyml.core.errors import ConfigError
from flowyml.secrets import SecretError, check_delivery, resolve

SECRETS = {
    "projects/p1/secrets/api-token/versions/latest": "gsm-FROB-1",
    "projects/p1/secrets/api-token/versions/3": "v3",
}


class _FakeSecretManager(BaseHTTPRequestHandler):
    calls: list[str] = []
    fail_first: list[int] = []  # status codes to answer before the real answer

    def do_GET(self) -> None:
        self.calls.append(self.path)
        if self.fail_first:
            self._reply(self.fail_first.pop(0), {"error": {"status": "UNAVAILABLE", "message": "try again"}})
            return
        name = self.path.removeprefix("/v1/").removesuffix(":access")
        if name not in SECRETS:
            self._reply(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": f"Secret [{name}] not found"}})
            return
        data = base64.b64encode(SECRETS[name].encode()).decode()
        self._reply(200, {"name": name, "payload": {"data": data}})

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
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeSecretManager)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("FLOWYML_GCP_SECRETMANAGER_ENDPOINT", url)
    _FakeSecretManager.calls.clear()
    yield url
    server.shutdown()
    server.server_close()


def test_gcp_sm_reads_the_latest_or_a_pinned_version(endpoint: str) -> None:
    assert resolve("gcp-sm://projects/p1/secrets/api-token") == "gsm-FROB-1"
    assert resolve("gcp-sm://projects/p1/secrets/api-token/versions/3") == "v3"
    assert _FakeSecretManager.calls == [
        "/v1/projects/p1/secrets/api-token/versions/latest:access",
        "/v1/projects/p1/secrets/api-token/versions/3:access",
    ]


def test_gcp_sm_retries_unavailable_and_names_what_is_missing(endpoint: str) -> None:
    _FakeSecretManager.fail_first[:] = [503, 429]
    assert resolve("gcp-sm://projects/p1/secrets/api-token") == "gsm-FROB-1"
    with pytest.raises(
        SecretError, match=r"gcp-sm://projects/p1/secrets/nope: HTTP 404 NOT_FOUND Secret \[.*\] not found"
    ):
        resolve("gcp-sm://projects/p1/secrets/nope")
    with pytest.raises(SecretError, match="expected gcp-sm://projects/PROJECT/secrets/NAME"):
        resolve("gcp-sm://just-a-name")


def test_vertex_takes_gcp_sm_and_refuses_env_references() -> None:
    from flowyml.plugins.manager import get_plugin_manager

    vertex = get_plugin_manager().backend("vertex_ai")
    check_delivery({"API_TOKEN": "gcp-sm://projects/p1/secrets/api-token"}, vertex)
    with pytest.raises(ConfigError, match=r'write `API_TOKEN: \{secret: "gcp-sm://..."\}`'):
        check_delivery({"API_TOKEN": "env://API_TOKEN"}, vertex)
