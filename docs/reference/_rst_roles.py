"""MkDocs hook: render the Sphinx roles used in flowyml's docstrings (``:class:`X```, ``.. versionadded::``).

mkdocstrings renders docstrings as Markdown, where ``:class:`~a.b.C``` would show its role
literally; this turns it into ``C`` in code font, as Sphinx would.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):<code>(~?)([^<]+)</code>")
_VERSION = re.compile(r"\.\. version(added|changed):: *([^<\s]+)")
_WORDS = {"added": "<em>Added in plugin contract version {}.</em>", "changed": "<br><em>Changed in version {}:</em>"}


def _role(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"<code>{target.rsplit('.', 1)[-1] if short else target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    html = _ROLE.sub(_role, html)
    return _VERSION.sub(lambda m: _WORDS[m.group(1)].format(m.group(2)), html)
