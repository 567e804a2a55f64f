"""The example's job server itself: validation, dependencies, cancel, logs paging, the env kept private."""

from __future__ import annotations

import sys
import time

import pytest

from flowyml_httpjobs import server as server_module
from flowyml_httpjobs.backend import HttpError, HttpJobsConfig, call
from flowyml_httpjobs.server import JobServer

from .conftest import TOKEN


def _job(name: str, code: str, **extra: object) -> dict[str, object]:
    return {"name": name, "argv": [sys.executable, "-c", code], "labels": {"t": "x"}, **extra}


class Client:
    """The server's API, one method per call, over the plugin's own ``call`` (retried by core)."""

    def __init__(self, config: HttpJobsConfig) -> None:
        self.config = config

    def call(self, method: str, path: str, body: object = None, what: str = "") -> object:
        return call(self.config, method, path, body)

    def create_job(self, body: dict) -> dict:
        return call(self.config, "POST", "/jobs", body)

    def find_job(self, name: str) -> dict | None:
        try:
            return call(self.config, "GET", f"/jobs/{name}")
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise

    def list_jobs(self, label: str, value: str) -> list:
        return call(self.config, "GET", f"/jobs?label={label}={value}")["jobs"]

    def cancel_job(self, name: str, graceful: bool) -> bool:
        return bool(call(self.config, "POST", f"/jobs/{name}/cancel", {"graceful": graceful})["cancel_requested"])

    def job_logs(self, name: str, offset: int) -> dict:
        return call(self.config, "GET", f"/jobs/{name}/logs?offset={offset}")


def _wait(client: Client, name: str, states: set[str], timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.find_job(name)
        if job and job["state"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{name} never reached {states}: {client.find_job(name)}")


@pytest.fixture
def client(config: HttpJobsConfig) -> Client:
    return Client(config)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "bad name!", "argv": ["x"]}, "invalid job name"),
        ({"name": "ok", "argv": []}, "argv must be a non-empty list"),
        ({"name": "ok", "argv": ["x"], "env": {"A": 1}}, "env must map strings to strings"),
        ({"name": "ok", "argv": ["x"], "after": ["nope"]}, "unknown jobs in after: nope"),
        ({"name": "ok", "argv": ["x"], "timeout": 0}, "timeout must be a positive number"),
    ],
)
def test_invalid_jobs_are_refused_with_a_reason(client: Client, body: dict, message: str) -> None:
    with pytest.raises(HttpError, match=message) as info:
        client.call("POST", "/jobs", body, what="create job")
    assert info.value.status == 400


def test_a_job_waits_for_its_dependency_and_its_env_is_never_returned(client: Client) -> None:
    client.create_job(_job("first", "import time; time.sleep(0.3)", env={"SECRET_ENV": "hidden"}))
    client.create_job(
        _job(
            "second",
            "import os; print(os.environ['SECRET_ENV'] if 'SECRET_ENV' in os.environ else 'no')",
            after=["first"],
        )
    )
    assert client.find_job("second")["state"] == "QUEUED"
    first = _wait(client, "first", {"SUCCEEDED"})
    second = _wait(client, "second", {"SUCCEEDED"})
    assert second["started_at"] >= first["finished_at"]
    assert "env" not in first and "hidden" not in str(client.list_jobs("t", "x"))
    lines = [e["line"] for e in client.job_logs("second", 0)["entries"]]
    assert lines == ["no"]  # one job's env does not leak into another's


def test_cancel_a_queued_and_a_running_job(client: Client) -> None:
    client.create_job(_job("runner", "import time; print('up', flush=True); time.sleep(30)"))
    client.create_job(_job("waiter", "print('never')", after=["runner"]))
    _wait(client, "runner", {"RUNNING"})
    assert client.cancel_job("waiter", graceful=True) is True
    assert client.find_job("waiter")["state"] == "CANCELLED"
    assert client.cancel_job("runner", graceful=True) is True
    assert client.find_job("runner")["state"] in {"CANCELLING", "CANCELLED"}
    assert _wait(client, "runner", {"CANCELLED"})["message"] == "cancelled on request"
    assert client.cancel_job("runner", graceful=True) is False  # already over: idempotent


def test_a_command_that_cannot_start_fails_with_the_reason(client: Client) -> None:
    client.create_job({"name": "nothing", "argv": ["/no/such/flowyml"]})
    job = _wait(client, "nothing", {"FAILED"})
    assert "cannot start '/no/such/flowyml'" in job["message"]


def test_logs_are_paged_by_offset(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "LOG_PAGE", 3)
    client.create_job(_job("chatty", "for i in range(7): print(i)"))
    _wait(client, "chatty", {"SUCCEEDED"})
    offset, lines, pages = 0, [], 0
    while True:
        page = client.job_logs("chatty", offset)
        lines += [e["line"] for e in page["entries"]]
        offset, pages = page["next_offset"], pages + 1
        if not page["more"]:
            break
    assert lines == [str(i) for i in range(7)] and pages == 3


def test_faults_answer_503_with_retry_after_and_then_stop(job_server: JobServer, client: Client) -> None:
    import urllib.error
    import urllib.request

    with job_server.faults("status", 2):
        request = urllib.request.Request(f"{job_server.url}/jobs", headers={"Authorization": f"Bearer {TOKEN}"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=10)
        assert info.value.code == 503 and info.value.headers["Retry-After"] == "0"
        assert client.list_jobs("t", "x") == []  # the second fault is retried away
    assert client.list_jobs("t", "x") == []


def test_the_server_command_serves_until_sigterm(tmp_path, no_egress: None) -> None:
    import json
    import signal
    import socket
    import subprocess
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowyml_httpjobs.server", "--port", str(port), "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                    assert json.load(answer) == {"ok": True}
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert f"listening on http://127.0.0.1:{port}" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
