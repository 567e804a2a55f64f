"""docs/guarantees.md names the tests that prove each promise: every one of them exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
PAGE = ROOT / "docs" / "guarantees.md"
KIT = ROOT / "flowyml-core" / "src" / "flowyml" / "testing" / "contract.py"


def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_test_the_guarantees_page_cites_exists():
    text = PAGE.read_text()
    cited = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)
    assert len(cited) >= 25
    missing = [f"{f}::{t}" for f, t in cited if t not in functions_in(ROOT / f)]
    assert not missing, f"docs/guarantees.md cites tests that do not exist: {missing}"
    kit = re.findall(r"conformance kit's\s+`(\w+)`", text)
    assert kit and not set(kit) - functions_in(KIT)
    for section in ("Run ids", "Atomic submission", "Names", "Secrets", "Configuration", "Artifacts", "Transient"):
        assert f"## {section}" in text
