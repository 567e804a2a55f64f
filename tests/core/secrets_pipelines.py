"""Pipelines the secrets tests submit (imported by the step-runner subprocesses)."""

from __future__ import annotations

import hashlib
import os

from flowyml import Pipeline, step


@step(outputs=["digest"])
def use_token():
    token = os.environ["API_TOKEN"]
    print(f"the token is {token}", flush=True)  # masked in every log
    return hashlib.sha256(token.encode()).hexdigest()


@step(inputs=["digest"], outputs=["checked"])
def leak_in_error(digest):
    if os.environ.get("LEAK_IN_ERROR"):
        raise RuntimeError(f"refused token {os.environ['API_TOKEN']}")
    return digest


token = Pipeline("secrets-token", enable_cache=False)
token.add_step(use_token).add_step(leak_in_error)
