"""The worked third-party plugin as the plugin author's guide presents it (issue 18, items 8 and 9).

The guide must stand alone as plain markdown: every file of the plugin package except the fake
service is shown whole, the sizes it states are the real ones, and what it says
``flowyml plugins`` shows is what it shows.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.cli_process import run_cli

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "examples" / "third_party_plugin" / "src" / "flowyml_httpjobs"
TUTORIAL = REPO / "docs" / "plugins" / "tutorial.md"
FAKE_SERVICE = {"server.py"}


def _plugin_files() -> list[Path]:
    return sorted(p for p in PACKAGE.glob("*.py") if p.name not in FAKE_SERVICE)


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_the_code_a_plugin_author_writes_is_at_most_150_lines() -> None:
    files = _plugin_files()
    assert {p.name for p in files} == {"__init__.py", "backend.py"}, "a new module: count it and show it in the guide"
    assert sum(_lines(p) for p in files) <= 150


def test_the_guide_shows_every_file_of_the_plugin_whole_and_inline() -> None:
    """Read as markdown (no ``--8<--`` includes), the tutorial holds each file verbatim."""
    text = TUTORIAL.read_text()
    assert "--8<--" not in text
    listings = dict(re.findall(r'^```python title="([^"]+)"\n(.*?)^```', text, re.M | re.S))
    for path in _plugin_files():
        key = str(path.relative_to(REPO))
        assert key in listings, f"the tutorial does not show {key}"
        assert listings[key] == path.read_text(), f"the tutorial's listing of {key} is out of date"


def test_the_sizes_the_guide_and_the_readme_state_are_the_real_ones() -> None:
    backend, total = _lines(PACKAGE / "backend.py"), sum(_lines(p) for p in _plugin_files())
    tutorial = " ".join(TUTORIAL.read_text().split())
    readme = " ".join((PACKAGE.parents[1] / "README.md").read_text().split())
    assert f"one module of {backend} lines (`backend.py`)" in tutorial and f"{total} lines in all" in tutorial
    assert f"`backend.py`, {backend} lines ({total} with `__init__.py`)" in readme
    for stated in re.findall(r"(\d+) lines", tutorial + readme):
        assert int(stated) in (backend, total), f"a stale size: {stated} lines"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, check=True)


def test_flowyml_plugins_shows_what_the_guide_says() -> None:
    """Text: the plugin's distribution, version and hooks, the backend with its capabilities;
    ``--json``: each backend's capabilities and state table (docs/plugins/tutorial.md, "Check it loaded")."""
    text = _cli("plugins").stdout
    backend_line = next(line for line in text.splitlines() if line.split()[:1] == ["httpjobs"] and "dag" in line)
    assert "cancel, dag, details, logs" in backend_line
    plugin_line = next(line for line in text.splitlines() if "flowyml-httpjobs 0.1.0" in line)
    assert "register_backends" in plugin_line
    doc = json.loads(_cli("plugins", "--json").stdout)
    backend = next(b for b in doc["backends"] if b["name"] == "httpjobs")
    assert backend["capabilities"] == ["cancel", "dag", "details", "logs"]
    assert backend["native_states"] == {
        "QUEUED": "QUEUED",
        "RUNNING": "RUNNING",
        "CANCELLING": "STOPPING",
        "SUCCEEDED": "COMPLETED",
        "FAILED": "FAILED",
        "CANCELLED": "CANCELLED",
        "TIMED_OUT": "TIMED_OUT",
    }
    guide = " ".join(TUTORIAL.read_text().split())
    assert "(`--json` adds each backend's capabilities and state table)" in guide
    assert "listed, with its state table" not in guide, "the text listing has no state table"
