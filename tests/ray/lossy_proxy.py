"""A loopback HTTP proxy in front of the Ray dashboard that can lose the answers to job submissions.

With ``lose(n)`` active, the next ``n`` ``POST /api/jobs/`` are forwarded — Ray creates the job —
but the client gets a 503 instead of Ray's answer, as after a gateway timeout. Within ``down()`` it
closes every connection unanswered, as a dashboard that went away does. ``forced[submission id] =
state`` makes every job description it relays for that job say ``state`` (the kit's native-state
test). With ``token`` set, it
answers 401 to any request without ``Authorization: Bearer <token>``, as an authenticating
ingress in front of a cluster does.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te", "upgrade"}


class LossyProxy:
    def __init__(self, upstream: str, token: str | None = None) -> None:
        parts = urlsplit(upstream)
        self.token = token
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.to_lose = 0
        self.creates = 0
        self.is_down = False
        self.forced: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @contextlib.contextmanager
    def lose(self, count: int) -> Iterator[None]:
        with self._lock:
            self.to_lose += count
        try:
            yield
        finally:
            with self._lock:
                self.to_lose = 0

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        self.is_down = True
        try:
            yield
        finally:
            self.is_down = False
        self.forced: dict[str, str] = {}

    def start(self) -> str:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.is_down:
                    self.close_connection = True  # no answer at all
                    return
                if proxy.token and self.headers.get("Authorization") != f"Bearer {proxy.token}":
                    self._send(401, b"401: Unauthorized (flowyml test proxy)", "text/plain")
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                conn.request(self.command, self.path, body=body or None, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
                conn.close()
                create = self.command == "POST" and self.path.rstrip("/") == "/api/jobs"
                with proxy._lock:
                    if create:
                        proxy.creates += 1
                    lost = create and proxy.to_lose > 0
                    if lost:
                        proxy.to_lose -= 1
                if lost:
                    self._send(503, b"upstream answer lost (flowyml test proxy)", "text/plain")
                    return
                described = self.command == "GET" and self.path.startswith("/api/jobs/") and reply.status == 200
                if proxy.forced and described:
                    data = proxy.rewrite(data)
                self._send(reply.status, data, reply.getheader("Content-Type") or "application/json")

            def _send(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = _relay

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="ray-lossy-proxy", daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def rewrite(self, data: bytes) -> bytes:
        """A job description (or a list of them) with the forced states put in."""
        doc = json.loads(data)
        for job in doc if isinstance(doc, list) else [doc]:
            if isinstance(job, dict) and job.get("submission_id") in self.forced:
                job["status"] = self.forced[job["submission_id"]]
        return json.dumps(doc).encode()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
