"""docs/migrating.md: its Python runs as one program, and the page is in the site's navigation."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "migrating.md"
FENCE = re.compile(r"^```python\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def test_the_migration_page_runs(tmp_path: Path) -> None:
    blocks = FENCE.findall(PAGE.read_text())
    assert len(blocks) >= 2
    script = tmp_path / "migrating.py"
    script.write_text("\n\n".join(blocks))
    env = {**os.environ, "FLOWYML_HOME": str(tmp_path / "home"), "FLOWYML_RETRY_BASE_DELAY": "0.01"}
    env.pop("FLOWYML_CONFIG", None)
    env.pop("FLOWYML_STACK", None)
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=180, env=env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_migration_page_is_in_the_nav() -> None:
    assert "migrating.md" in (ROOT / "mkdocs.yml").read_text()
