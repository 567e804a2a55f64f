"""pytest fixtures for flowyml users and plugin authors."""

from __future__ import annotations

__all__ = ["flowyml_home", "no_egress"]

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowyml.testing import egress


@pytest.fixture
def flowyml_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty flowyml home (run registry, cache, local runs) for one test."""
    home = tmp_path / "flowyml-home"
    monkeypatch.setenv("FLOWYML_HOME", str(home))
    monkeypatch.setenv("FLOWYML_RETRY_BASE_DELAY", "0.01")
    monkeypatch.setenv("FLOWYML_BACKEND_RETRY_DELAY", "0.01")
    return home


@pytest.fixture
def no_egress() -> Iterator[None]:
    """Fail loudly if the test tries to reach anything but 127.0.0.1."""
    egress.install()
    try:
        yield
    finally:
        egress.uninstall()
