"""Keeps the contract, its docs and its tests in step: every hook spec and every Backend operation
is documented and tested."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from flowyml.plugins import Backend, hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS_DOC = ROOT / "docs" / "plugins" / "hooks.md"


def _specs() -> list[tuple[str, object]]:
    return sorted((name, fn) for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "flowyml_spec"))


SPECS = _specs()
OPERATIONS = ["submit", "status", "status_many", "cancel", "logs", "details"]


def _sections() -> dict[str, str]:
    """Heading text (backticks removed) -> the section's body, from docs/plugins/hooks.md."""
    text = HOOKS_DOC.read_text()
    parts = re.split(r"^#{2,3} +(.+?) *$", text, flags=re.MULTILINE)
    return {parts[i].strip("` "): parts[i + 1] for i in range(1, len(parts), 2)}


def _test_names() -> set[str]:
    names = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        names.update(
            re.findall(r"^\s*(?:async\s+)?def (test_(?:hook|backend)_\w+)\s*\(", path.read_text(), re.MULTILINE)
        )
    return names


def test_the_contract_has_hook_specs() -> None:
    assert [name for name, _ in SPECS] == [
        "flowyml_register_backends",
        "flowyml_register_secrets",
        "flowyml_register_stores",
    ]


@pytest.mark.parametrize("op", OPERATIONS)
def test_every_backend_operation_is_documented_and_tested(op: str) -> None:
    method = getattr(Backend, op)
    assert len((inspect.getdoc(method) or "").strip()) > 40, f"Backend.{op} has no real docstring"
    sections = _sections()
    heading = f"Backend.{op}"
    assert heading in sections, f"docs/plugins/hooks.md has no section headed {heading}"
    params = ", ".join(p for p in inspect.signature(method).parameters if p != "self")
    assert f"{op}(self, {params})" in sections[heading], f"the section {heading} must show {op}(self, {params})"
    assert f"test_backend_{op}" in _test_names(), f"no test named test_backend_{op} under tests/"


@pytest.mark.parametrize(("name", "spec"), SPECS, ids=[n for n, _ in SPECS])
def test_every_hook_spec_has_a_docstring(name: str, spec: object) -> None:
    doc = inspect.getdoc(spec) or ""
    assert len(doc.strip()) > 40, f"hook spec {name} in flowyml/plugins/hookspecs.py has no real docstring"
    assert "**When:**" in doc, f"hook spec {name}: say when it is called (a '**When:**' paragraph)"


@pytest.mark.parametrize(("name", "spec"), SPECS, ids=[n for n, _ in SPECS])
def test_every_hook_spec_has_a_version(name: str, spec: object) -> None:
    assert name in hookspecs.HOOK_VERSIONS, f"hook spec {name} is missing from hookspecs.HOOK_VERSIONS"


@pytest.mark.parametrize(("name", "spec"), SPECS, ids=[n for n, _ in SPECS])
def test_every_hook_spec_has_a_section_in_the_docs(name: str, spec: object) -> None:
    sections = _sections()
    assert name in sections, f"docs/plugins/hooks.md has no section headed {name}"
    params = ", ".join(inspect.signature(spec).parameters)
    assert f"{name}({params})" in sections[name], (
        f"the section {name} of docs/plugins/hooks.md must show the current signature {name}({params})"
    )


@pytest.mark.parametrize(("name", "spec"), SPECS, ids=[n for n, _ in SPECS])
def test_every_hook_spec_has_a_dispatch_test(name: str, spec: object) -> None:
    wanted = f"test_hook_{name.removeprefix('flowyml_')}"
    assert wanted in _test_names(), f"no test named {wanted} under tests/ for hook spec {name}"


def test_the_docs_do_not_document_hooks_that_do_not_exist() -> None:
    documented = {h for h in _sections() if h.startswith("flowyml_")}
    assert documented <= {name for name, _ in SPECS}, documented - {name for name, _ in SPECS}
