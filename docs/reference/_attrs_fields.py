"""Griffe extension: show an attrs field (``x: int = attrs.field(default=1, ...)``) as its default.

The settings classes are frozen attrs classes; mkdocstrings would print each field's whole
``attrs.field(...)`` call (validators, metadata). This shows ``= 1`` (or ``= list()`` for a
factory), labels fields marked ``metadata={"secret": True}`` as ``secret``, and takes a ``#:``
comment right above a field as its description.
"""

from __future__ import annotations

import ast
from typing import Any

import griffe

_FIELD_CALLS = ("attrs.field", "field", "attr.ib", "attrs.Factory")


def _attrs_class(parent: Any) -> bool:
    decorators = getattr(parent, "decorators", None) or []
    return getattr(parent, "is_class", False) and any(str(d.value).startswith(("attrs.", "attr.")) for d in decorators)


class AttrsFields(griffe.Extension):
    def on_attribute_instance(self, *, node: Any, attr: griffe.Attribute, agent: Any, **kwargs: Any) -> None:
        if isinstance(node, ast.AnnAssign) and _attrs_class(attr.parent):
            attr.labels -= {"class-attribute", "instance-attribute"}  # an attrs field is per instance
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.value, ast.Call):
            self._comment(node, attr, agent)
            return
        call = node.value
        if ast.unparse(call.func) not in _FIELD_CALLS:
            return
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        if "default" in keywords:
            attr.value = ast.unparse(keywords["default"])
        elif "factory" in keywords:
            attr.value = f"{ast.unparse(keywords['factory'])}()"
        else:
            attr.value = None
        metadata = keywords.get("metadata")
        if metadata is not None and ("secret" in ast.unparse(metadata) or "SECRET" in ast.unparse(metadata)):
            attr.labels.add("secret")
        self._comment(node, attr, agent)

    @staticmethod
    def _comment(node: Any, attr: griffe.Attribute, agent: Any) -> None:
        lines = getattr(agent, "code", "").splitlines()
        lineno = getattr(node, "lineno", 0)
        if attr.docstring is None and 1 < lineno <= len(lines):
            above = lines[lineno - 2].strip()
            if above.startswith("#:"):
                attr.docstring = griffe.Docstring(above[2:].strip(), lineno=lineno - 1, parent=attr)
