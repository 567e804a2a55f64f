"""The one install hint error messages give: flowyml installs from its repository, not the index.

The ``flowyml`` on the package index is a different project, so a hint never names it there.
"""

from __future__ import annotations


def install_hint(extra: str) -> str:
    """``pip install ./flowyml-aws (...)`` for the extra ``aws``; ``cron`` is the croniter package."""
    if extra == "cron":
        return "pip install croniter"
    return f"pip install ./flowyml-{extra} (from the root of a clone of the flowyml repository)"
