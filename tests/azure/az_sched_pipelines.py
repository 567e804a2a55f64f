"""A pipeline the Azure schedule tests fire: its last unit fails when the context says so."""

from __future__ import annotations

from flowyml.core.context import context
from flowyml.core.pipeline import Pipeline
from flowyml.core.step import step


@step(outputs=["rows"])
def load(rows: int = 3) -> int:
    print(f"loaded {rows} rows", flush=True)
    return rows


@step(inputs=["rows"], outputs=["checked"])
def check(rows: int, fail: bool = False) -> int:
    if fail:
        raise RuntimeError(f"check failed on {rows} rows")
    return rows


#: Two units: load -> check.
checked = Pipeline("azure-checked", context=context(rows=3, fail=False), enable_cache=False)
checked.add_step(load).add_step(check)
