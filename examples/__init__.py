"""Runnable example pipelines (used by the README, the docs and the tests)."""
