"""Shared test setup: an isolated flowyml home per test and a loopback-only network for the session."""

from __future__ import annotations

import pytest

from flowyml.plugins.manager import reset_plugin_manager
from flowyml.plugins.retry import budget as retry_budget
from flowyml.testing import egress

pytest_plugins = ["flowyml.testing.pytest_plugin"]


def pytest_configure(config: pytest.Config) -> None:
    egress.install()


@pytest.fixture(autouse=True)
def _isolated_home(flowyml_home):
    retry_budget.reset()  # one test's injected outage must not spend the next test's retries
    yield flowyml_home
    reset_plugin_manager()
