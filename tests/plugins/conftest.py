"""Fixtures for the worked third-party plugin: an httpjobs server on a free loopback port."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Installed by scripts/setup (pip install -e examples/third_party_plugin); a missing install is an
# error here, not a skip, so CI cannot pass without testing the worked plugin.
from flowyml_httpjobs.backend import HttpJobsConfig
from flowyml_httpjobs.server import JobServer

TOKEN = "test-token-not-a-secret"


@pytest.fixture
def job_server(tmp_path: Path, no_egress: None) -> Iterator[JobServer]:
    """A started server on 127.0.0.1 (port 0: the OS picks a free one) whose jobs find ``flowyml``."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    server = JobServer("127.0.0.1", 0, token=TOKEN, data_dir=tmp_path / "server", base_env=env, grace_period=1.0)
    with server:
        yield server


@pytest.fixture
def config(job_server: JobServer) -> HttpJobsConfig:
    return HttpJobsConfig(url=job_server.url, token=TOKEN, log_poll_interval=0.05)
