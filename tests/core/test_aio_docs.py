"""Every snippet of docs/async.md runs (in order, one namespace), except the one marked not-run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "async.md"
BLOCK = re.compile(r"(<!-- docs-test: not-run: [^>]*-->\s*)?```python\n(.*?)```", re.S)


def snippets() -> list[tuple[bool, str]]:
    return [(bool(mark), code) for mark, code in BLOCK.findall(DOC.read_text())]


def test_the_doc_has_runnable_snippets_and_one_illustrative_fastapi_example():
    found = snippets()
    illustrative = [code for mark, code in found if mark]
    assert len(found) >= 8
    assert len(illustrative) == 1 and "FastAPI" in illustrative[0]


def test_every_snippet_runs(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(DOC.parent.parent)
    namespace: dict = {"__name__": "docs_async"}
    for i, (illustrative, code) in enumerate(snippets()):
        if illustrative:
            continue
        try:
            exec(compile(code, f"{DOC.name}[snippet {i}]", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"snippet {i} of {DOC.name} failed:\n{code}") from exc
