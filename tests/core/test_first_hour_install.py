"""Issue 15 item 1: every install line installs this project, and the distributions are in step.

The `flowyml` on the package index is a different project (FlowyML 2.x): every distribution here
is versioned in step above 2, and every ``pip install`` in the docs names a folder of this
repository (or, in a Dockerfile, a folder its COPY lines bring in from a clone).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - CI runs 3.11+
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
SUBS = sorted(p.parent.name for p in ROOT.glob("flowyml-*/pyproject.toml"))
PROJECTS = [ROOT, *(ROOT / s for s in SUBS)]
PLUGIN = ROOT / "examples" / "third_party_plugin"
DOCS = sorted(
    [
        ROOT / "README.md",
        *ROOT.glob("docs/**/*.md"),
        *ROOT.glob("flowyml-*/README.md"),
        *ROOT.glob("examples/**/README.md"),
    ]
)
PIP_INSTALL = re.compile(r"pip install ([^`\n]*)")
OUR_NAME = re.compile(r"^flowyml(-[a-z]+)?(\[.*\])?([=<>!~].*)?$")


def _pyproject(folder: Path) -> dict[str, Any]:
    return tomllib.loads((folder / "pyproject.toml").read_text())["project"]


def _version() -> str:
    return str(_pyproject(ROOT / "flowyml-core")["version"])


def _pins(requirements: list[str]) -> dict[str, str]:
    """``{"flowyml-aws": "==3.0.0"}`` for every flowyml distribution named in ``requirements``."""
    pins = {}
    for req in requirements:
        m = re.match(r"^(flowyml(?:-[a-z]+)?)(?:\[[a-z,]+\])?\s*(.*)$", req)
        if m:
            pins[m.group(1)] = m.group(2)
    return pins


def test_every_distribution_is_versioned_in_step_above_2() -> None:
    version = _version()
    major = int(version.split(".")[0])
    assert major > 2, f"{version}: FlowyML 2.x on the package index would win over it"
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{version}: a final release (pip skips pre-releases)"
    assert set(SUBS) >= {"flowyml-core", "flowyml-aws", "flowyml-gcp", "flowyml-azure"}
    for folder in PROJECTS:
        meta = _pyproject(folder)
        assert meta["version"] == version, f"{folder.name}/pyproject.toml: version {meta['version']} != {version}"
        requirements = list(meta.get("dependencies", []))
        for extra in meta.get("optional-dependencies", {}).values():
            requirements += extra
        for name, spec in _pins(requirements).items():
            assert spec == f"=={version}", f"{folder.name}/pyproject.toml: {name}{spec} is not =={version}"
    plugin_pin = _pins(_pyproject(PLUGIN)["dependencies"])["flowyml-core"]
    assert plugin_pin == f">={major}.0,<{major + 1}", plugin_pin


def test_every_package_version_attribute_is_in_step() -> None:
    version = _version()
    import flowyml

    assert flowyml.__version__ == version
    for sub in SUBS:
        package = sub.replace("-", "_") if sub != "flowyml-core" else "flowyml"
        init = ROOT / sub / "src" / package / "__init__.py"
        found = re.search(r'^__version__ = "([^"]+)"', init.read_text(), re.MULTILINE)
        if found:  # flowyml-gcp has none; the others must agree
            assert found.group(1) == version, f"{init.relative_to(ROOT)}: __version__ {found.group(1)}"


def test_sub_distributions_carry_readme_classifiers_urls_and_authors() -> None:
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    urls = set()
    for folder in PROJECTS:
        meta = _pyproject(folder)
        where = f"{folder.name}/pyproject.toml"
        assert meta["license"] == "Apache-2.0", where
        assert (folder / meta["readme"]).is_file(), f"{where}: readme {meta['readme']} missing"
        assert meta["authors"] and meta["authors"][0]["name"], where
        assert any(c.startswith("Programming Language :: Python :: 3.1") for c in meta["classifiers"]), where
        assert {"Repository", "Issues", "Documentation"} <= set(meta["urls"]), where
        urls.add(meta["urls"]["Repository"])
    assert len(urls) == 1, f"one repository URL everywhere, found {urls}"


def test_the_meta_distribution_has_no_dev_extra_and_contributors_get_requirements_dev() -> None:
    extras = _pyproject(ROOT).get("optional-dependencies", {})
    assert "dev" not in extras
    assert set(extras) >= {"aws", "gcp", "azure", "all"}
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert "pytest" in dev and "ruff" in dev and "mkdocs" in dev
    assert "-r requirements-dev.txt" in (ROOT / "scripts" / "setup").read_text()


def _copies(block: str) -> dict[str, str]:
    """A Dockerfile's ``COPY src dest`` lines: image path -> build-context path."""
    return {m.group(2).rstrip("/"): m.group(1).rstrip("/") for m in re.finditer(r"^COPY (\S+) (\S+)", block, re.M)}


def _install_lines() -> list[tuple[Path, str, dict[str, str]]]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for i, block in enumerate(re.split(r"^```", text, flags=re.M)):
            copies = _copies(block) if block.startswith("dockerfile") else {}
            for m in PIP_INSTALL.finditer(block):
                if i % 2 == 0 and block[m.start() - 1 : m.start()] != "`":
                    continue  # prose ("a user's pip install left .pyc files"), not a command
                if _arguments(m.group(1)) or i % 2:
                    found.append((doc, m.group(1), copies))
    return found


def _arguments(line: str) -> list[str]:
    command = line.split("#")[0].split("&&")[0].split(";")[0].split(" (")[0]  # not comments or remarks
    words = shlex.split(command.strip().strip("`"))
    args, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in ("-r", "--requirement", "-c", "--constraint", "--find-links", "-f"):
            skip = True
        elif not word.startswith("-"):
            args.append(word)
    return args


def test_every_pip_install_in_the_docs_names_a_folder_of_this_repository() -> None:
    lines = _install_lines()
    assert len(lines) >= 15, lines
    docker = 0
    for doc, line, copies in lines:
        where = f"{doc.relative_to(ROOT)}: pip install {line}"
        args = _arguments(line)
        assert args, where
        for arg in args:
            assert not OUR_NAME.match(arg), f"{where}: {arg!r} is a package-index name (another project there)"
        ours = [a for a in args if a.startswith((".", "/")) or "/" in a]
        assert ours, f"{where}: installs nothing of this project"
        for arg in ours:
            path = re.sub(r"\[[a-z,]+\]$", "", arg)
            if copies:
                docker += 1
                assert path in copies, f"{where}: {path} is not COPY'd into the image"
                path = copies[path].removeprefix("flowyml/")  # the build context holds a clone as flowyml/
            target = ROOT / path
            assert (target / "pyproject.toml").is_file(), f"{where}: {path} is not a distribution folder here"
    assert docker >= 3, "the AWS, GCP and Azure Dockerfiles install from copied folders"


def test_version_pins_in_the_docs_match() -> None:
    version = _version()
    for doc in DOCS:
        for name, pin in re.findall(r"\b(flowyml(?:-[a-z]+)?)==([0-9][0-9a-z.]*[0-9])", doc.read_text()):
            assert pin == version, f"{doc.relative_to(ROOT)}: {name}=={pin}, the distributions are {version}"


def test_pip_builds_the_metadata_and_resolves_pins_against_the_named_folders(tmp_path: Path) -> None:
    """Real pip, real hatchling: what a fresh machine gets from the README's lines."""
    report = tmp_path / "report.json"
    folders = [f"./{s}" for s in SUBS]
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps", "--quiet"]
    proc = subprocess.run(
        [*cmd, "--report", str(report), ".", *folders], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr
    built = {item["metadata"]["name"]: item["metadata"] for item in json.loads(report.read_text())["install"]}
    assert set(built) == {"flowyml", *SUBS}
    for name, meta in built.items():
        assert meta["version"] == _version(), name
        assert meta.get("license_expression") == "Apache-2.0", name
        assert any(u.startswith("Repository, ") for u in meta["project_url"]), name
        assert meta["description_content_type"] == "text/markdown" and meta["description"], name
        assert "dev" not in meta.get("provides_extra", []), name
    # With dependencies: the meta-distribution and the plugin resolve flowyml-core to ./flowyml-core.
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
    args = [".", "./flowyml-core", "./examples/third_party_plugin"]
    proc = subprocess.run([*cmd, "--report", str(report), *args], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    resolved = {item["metadata"]["name"]: item for item in json.loads(report.read_text())["install"]}
    assert resolved["flowyml-core"]["download_info"]["url"] == (ROOT / "flowyml-core").as_uri()
    assert resolved["flowyml"]["metadata"]["version"] == _version()
