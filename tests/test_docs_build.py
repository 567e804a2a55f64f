"""The documentation builds with ``mkdocs build --strict`` (the Python in its pages: test_docs_blocks.py)."""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]')")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    site = tmp_path / "site"
    assert (site / "plugins" / "tutorial" / "index.html").is_file()
    assert (site / "reference" / "plugins" / "index.html").is_file()
    check_the_built_site(site)
    assert not list(site.rglob("__pycache__")), "the hooks' bytecode was published"


REPO = "https://github.com/flowyml-project/flowyml"
#: settings classes of each distribution, and helpers that are not public API (no __all__ lists them)
DOCUMENTED = {
    "gcp": ["flowyml_gcp.config.VertexAIConfig", "flowyml_gcp.orchestrators.VertexAIOrchestrator"],
    "aws": ["flowyml_aws.config.AWSBatchConfig", "flowyml_aws.config.SageMakerConfig", "flowyml_aws.config.S3Settings"],
    "azure": ["flowyml_azure.config.AzureMLConfig", "flowyml_azure.orchestrators.AzureMLOrchestrator"],
    "ray": ["flowyml_ray.config.RayConfig", "flowyml_ray.orchestrators.RayOrchestrator"],
    "core": ["flowyml.core.executor.LocalExecutor", "flowyml.core.pipeline.Pipeline"],
}
INTERNAL = ["flowyml.core.executor.map_outputs", "flowyml.orchestrators.remote.kill_point", "flowyml.runner.mask"]


def check_the_built_site(site: Path) -> None:
    home = (site / "index.html").read_text()
    assert f'href="{REPO}"' in home, "no repository link (mkdocs.yml repo_url)"
    assert f'href="{REPO}/edit/main/docs/index.md"' in home, "no edit button (mkdocs.yml edit_uri)"
    assert 'href="stylesheets/extra.css"' in home
    css = (site / "stylesheets" / "extra.css").read_text()
    assert "word-break: normal" in css and "white-space: nowrap" in css  # no name broken mid-word in a table
    anchors = set()
    for page in (site / "reference").rglob("index.html"):
        anchors |= set(re.findall(r'<h[2-6] id="([^"]+)" class="doc doc-heading"', page.read_text()))
    for slug, names in DOCUMENTED.items():
        text = (site / "reference" / slug / "index.html").read_text()
        for name in names:
            assert f'id="{name}"' in text, f"reference/{slug}: {name} is not rendered"
    texts = {page.parent.name: page.read_text() for page in (site / "reference").rglob("index.html")}
    calls = [name for name, text in texts.items() if "= attrs.field(" in html.unescape(re.sub(r"<[^>]+>", "", text))]
    assert not calls, f"reference/{calls}: a settings field shown as its attrs.field(...) call"
    secret = texts["aws"].split('id="flowyml_aws.config.AWSConnection.aws_secret_access_key"')[1].split("</h")[0]
    assert "secret" in secret, "a secret settings field is not labelled secret"
    leaked = [a for a in anchors if any(a == name or a.startswith(name + ".") for name in INTERNAL)]
    assert not leaked, f"internal helpers rendered as public API: {leaked}"
    assert not [a for a in anchors if a.endswith(".log")], "a module's logger rendered as public API"
