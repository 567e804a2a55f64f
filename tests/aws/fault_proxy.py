"""A loopback HTTP proxy between boto3 and moto: records, rewrites, stubs and fails API calls.

Requests are named by API action (``x-amz-target`` for JSON protocols, ``/v1/<op>`` for Batch,
``Action=`` for query protocols, ``s3:<method>`` for S3), lower-cased without punctuation.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "expect",
    "proxy-connection",
    "te",
    "upgrade",
    "content-length",
}


def norm(action: str) -> str:
    return "".join(ch for ch in action.lower() if ch.isalnum() or ch == ":")


@dataclass
class Request:
    action: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body or b"{}")

    def with_json(self, doc: Any) -> Reply:
        return Reply(self.status, self.headers, json.dumps(doc, default=str).encode())


@dataclass
class Call:
    action: str
    status: int
    injected: bool
    body: bytes = field(repr=False, default=b"")

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


Rule = Callable[[Request, Callable[[], Reply]], Reply]


def action_of(method: str, path: str, headers: dict[str, str], body: bytes) -> str:
    target = headers.get("x-amz-target")
    if target:
        return norm(target.rsplit(".", 1)[-1])
    if "/s3/aws4_request" in headers.get("authorization", ""):
        return f"s3:{method.lower()}"
    url = urlsplit(path)
    if url.path.startswith("/v1/"):
        return norm(url.path.split("/")[2])
    form = parse_qs(body.decode("utf-8", "replace")) if body else parse_qs(url.query)
    if "Action" in form:
        return norm(form["Action"][0])
    return norm(f"{method}:{url.path}")


def error_reply(req: Request, status: int, code: str, message: str) -> Reply:
    """An AWS error in the protocol the calling client speaks."""
    if "x-amz-target" in req.headers or "json" in req.headers.get("content-type", "") or req.path.startswith("/v1/"):
        body = json.dumps({"__type": code, "message": message}).encode()
        return Reply(status, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}, body)
    xml = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>proxy</RequestId></Error>"
    if not req.action.startswith("s3:"):
        xml = f"<ErrorResponse>{xml}<RequestId>proxy</RequestId></ErrorResponse>"
    return Reply(status, {"Content-Type": "text/xml"}, xml.encode())


class FaultProxy:
    """``rules[action](req, forward) -> Reply``; ``fail(actions, n)`` answers the next n calls with an error."""

    def __init__(self, upstream: str) -> None:
        up = urlsplit(upstream)
        self.upstream = (up.hostname, up.port)
        self.rules: dict[str, Rule] = {}
        self.calls: list[Call] = []
        self._faults: list[list[Any]] = []  # [actions, remaining, status, code]
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.endpoint = ""

    # -- knobs -------------------------------------------------------------------------------
    def add_rule(self, action: str, rule: Rule) -> None:
        self.rules[norm(action)] = rule

    def fail(self, actions: list[str], times: int, status: int = 400, code: str = "ThrottlingException") -> list[Any]:
        entry = [{norm(a) for a in actions}, times, status, code]
        with self._lock:
            self._faults.append(entry)
        return entry

    def drop_fault(self, entry: list[Any]) -> None:
        with self._lock:
            if entry in self._faults:
                self._faults.remove(entry)

    def reset(self) -> None:
        with self._lock:
            self.rules.clear()
            self.calls.clear()
            self._faults.clear()

    def sent(self, action: str, injected: bool | None = None) -> list[Call]:
        with self._lock:
            calls = list(self.calls)
        return [c for c in calls if c.action == norm(action) and (injected is None or c.injected == injected)]

    def _take_fault(self, action: str) -> tuple[int, str] | None:
        with self._lock:
            for entry in self._faults:
                if action in entry[0] and entry[1] > 0:
                    entry[1] -= 1
                    return entry[2], entry[3]
        return None

    # -- server ------------------------------------------------------------------------------
    def start(self) -> str:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                return

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    out = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                continue
                            return b"".join(out)
                        out.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                headers = {k.lower(): v for k, v in self.headers.items()}
                req = Request(action_of(self.command, self.path, headers, body), self.command, self.path, headers, body)
                forwarded: list[bool] = []

                def forward() -> Reply:
                    forwarded.append(True)
                    return proxy._forward(req)

                fault = proxy._take_fault(req.action)
                if fault is not None:
                    reply = error_reply(req, fault[0], fault[1], "injected by the test proxy")
                else:
                    rule = proxy.rules.get(req.action)
                    try:
                        reply = rule(req, forward) if rule else forward()
                    except Exception as exc:  # a broken rule must show in the test, not hang it
                        reply = error_reply(req, 500, "ProxyRuleError", repr(exc))
                with proxy._lock:
                    proxy.calls.append(Call(req.action, reply.status, not forwarded, body))
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    if name.lower() not in _HOP:
                        self.send_header(name, value)
                length = reply.headers.get("content-length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="aws-fault-proxy", daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.endpoint

    def _forward(self, req: Request) -> Reply:
        conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        try:
            headers = {k: v for k, v in req.headers.items() if k not in _HOP}
            headers["content-length"] = str(len(req.body))
            conn.request(req.method, req.path, body=req.body, headers=headers)
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
