"""Where flowyml keeps its state: ``$FLOWYML_HOME`` or ``~/.flowyml``."""

from __future__ import annotations

import os
from pathlib import Path


def flowyml_home() -> Path:
    """The flowyml home directory (created on first use)."""
    path = Path(os.environ.get("FLOWYML_HOME") or Path.home() / ".flowyml")
    path.mkdir(parents=True, exist_ok=True)
    return path
