"""moto's server on 127.0.0.1 behind a request counter, as its own process (``python -m bench.moto_server``).

Prints ``PORT <n>`` once listening (with ``--warm``: after importing the Batch, IAM and S3 backends,
which moto otherwise does on the first request to each). ``GET /_bench/counts`` returns the requests counted so far by
operation (JSON) and starts again from zero. Runs until killed.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

#: Batch is a REST-JSON API: the operation is the path.
BATCH_PATHS = {"/v1/describejobs": "DescribeJobs", "/v1/submitjob": "SubmitJob", "/v1/listjobs": "ListJobs"}


def operation(environ: dict[str, Any]) -> str:
    path = environ.get("PATH_INFO", "")
    if path in BATCH_PATHS:
        return BATCH_PATHS[path]
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rpartition(".")[2]
    return f"{environ.get('REQUEST_METHOD', '?')} {path.split('/')[1] if path.count('/') > 1 else path}"


class Counting:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/_bench/counts":
            with self.lock:
                body, self.counts = json.dumps(self.counts).encode(), Counter()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        with self.lock:
            self.counts[operation(environ)] += 1
        return self.app(environ, start_response)


WARM_SERVICES = ("batch", "iam", "s3")


def main(argv: list[str]) -> int:
    import importlib

    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    if "--warm" in argv:
        for service in WARM_SERVICES:
            importlib.import_module(f"moto.{service}.urls")

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    app = Counting(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    sys.stdout.write(f"PORT {server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
