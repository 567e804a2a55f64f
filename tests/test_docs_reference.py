"""The API reference (docs/reference, mkdocstrings) covers every distribution and only its public surface.

Public means: listed in the module's ``__all__`` (mkdocs.yml's ``filters: public``). Every module a
``:::`` directive renders must define ``__all__``, so a helper without a leading underscore does
not become public API by accident; a package renders its docstring only (``members: false``), its
submodules are documented one by one; and no object is rendered twice.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference"
DIRECTIVE = re.compile(r"^::: (\S+)\n((?:    .*\n)*)", re.M)
DISTRIBUTIONS = {
    "flowyml-core": "flowyml",
    "flowyml-gcp": "flowyml_gcp",
    "flowyml-aws": "flowyml_aws",
    "flowyml-azure": "flowyml_azure",
    "flowyml-ray": "flowyml_ray",
}


def directives() -> list[tuple[str, str, dict[str, Any]]]:
    """``(page, object path, options)`` of every ``:::`` directive, in page order."""
    found = []
    for page in sorted(REFERENCE.glob("*.md")):
        for path, body in DIRECTIVE.findall(page.read_text()):
            options = (yaml.safe_load(textwrap.dedent(body)) or {}).get("options", {}) if body else {}
            found.append((page.name, path, options))
    return found


def source_of(path: str) -> Path | None:
    """The file of a module path (``flowyml_aws.config``), or None when ``path`` is not a module."""
    package = path.split(".")[0]
    dist = next(d for d, p in DISTRIBUTIONS.items() if p == package)
    base = ROOT / dist / "src" / Path(*path.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def exports(file: Path) -> list[str] | None:
    for node in ast.parse(file.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return [ast.literal_eval(e) for e in node.value.elts]  # type: ignore[attr-defined]
    return None


def test_every_distribution_has_a_reference_page_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    documented = {path.split(".")[0] for _, path, _ in directives()}
    for dist, package in DISTRIBUTIONS.items():
        assert (ROOT / dist / "pyproject.toml").is_file(), dist
        assert package in documented, f"docs/reference: no ::: directive documents {dist} ({package})"
        paths = re.search(r"paths: \[(.*)\]", nav)
        assert paths and f"{dist}/src" in paths.group(1), f"mkdocs.yml: mkdocstrings does not search {dist}/src"
    for page in REFERENCE.glob("*.md"):
        assert f"reference/{page.name}" in nav, f"docs/reference/{page.name} is not in mkdocs.yml's nav"


def test_every_settings_class_of_a_cloud_distribution_is_documented() -> None:
    """The attrs classes of each ``config.py`` (a stack's ``orchestrator:`` / store settings) are in the site."""
    documented = {path for _, path, _ in directives()}
    for dist, package in DISTRIBUTIONS.items():
        if dist == "flowyml-core":
            continue
        config = ROOT / dist / "src" / package / "config.py"
        tree = ast.parse(config.read_text())
        classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef) and not n.name.startswith("_")]
        assert classes, config
        assert f"{package}.config" in documented, f"docs/reference: {package}.config is not rendered"
        missing = set(classes) - set(exports(config) or [])
        assert not missing, f"{config.relative_to(ROOT)}: {sorted(missing)} not in __all__, so not in the reference"


def test_every_rendered_module_declares_its_public_names() -> None:
    assert "filters: public" in (ROOT / "mkdocs.yml").read_text()
    for page, path, options in directives():
        file = source_of(path)
        if file is None:
            continue  # a class or a function, rendered on its own
        if file.name == "__init__.py" and options.get("members") is False:
            continue  # a package: its docstring; the submodules are rendered one by one
        names = exports(file)
        assert names, f"{page}: ::: {path} renders a module without __all__ (every public-looking name would show)"
        defined = {n.name for n in ast.parse(file.read_text()).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        for name in options.get("members") or []:
            assert name in names, f"{page}: ::: {path} lists {name}, which is not in its __all__"
        assert not {n for n in names if n.startswith("_")} & defined, f"{path}: a private name in __all__"


def test_no_object_is_rendered_twice() -> None:
    """Modules render each object once: a re-export in ``__all__`` (``flowyml_gcp.orchestrators.VertexAIConfig``)
    is left out with ``members``."""
    griffe = pytest.importorskip("griffe")
    loader = griffe.GriffeLoader(search_paths=[str(ROOT / d / "src") for d in DISTRIBUTIONS])
    for package in DISTRIBUTIONS.values():
        loader.load(package)
    loader.resolve_aliases(implicit=False)
    owner: dict[str, str] = {}
    for page, path, options in directives():
        obj = loader.modules_collection.get_member(path)
        if not obj.is_module:
            continue  # one object on its own (the summary on flowyml.md): deliberate
        if options.get("members") is False:
            rendered = []
        elif options.get("members"):
            rendered = [obj.members[name] for name in options["members"]]
        else:
            rendered = [m for m in obj.members.values() if m.is_public and not m.is_module]
        for member in rendered:
            target = member.final_target.path if member.is_alias else member.path
            where = f"{page}: ::: {path} -> {member.name}"
            assert target not in owner, f"{target} rendered twice: {owner[target]} and {where}"
            owner[target] = where
    assert len(owner) > 150, len(owner)
