"""Reading ``flowyml.yaml`` safely: UTF-8 only, within a size, depth and alias-expansion budget.

``yaml.safe_load`` refuses code, but not a file that is 5000 levels deep (a ``RecursionError``),
a recursive alias, an alias bomb that expands to billions of nodes, or a key written twice (the
last one silently wins). The loader here composes the document with those checks, so a bad file
fails fast with one :class:`~flowyml.config.errors.ConfigFieldError` naming the line and column.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from flowyml.config.errors import ConfigFieldError, key_path

#: A configuration file larger than this is refused before it is parsed.
MAX_BYTES = 1 << 20
#: Deepest nesting of mappings and sequences (a flowyml.yaml needs about six).
MAX_DEPTH = 64
#: Most nodes the document may hold once every alias is expanded (the alias-bomb budget).
MAX_NODES = 100_000
#: Most characters the document's strings may hold once every alias is expanded.
MAX_CHARS = 4 * MAX_BYTES

_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
_MERGE_TAG = "tag:yaml.org,2002:merge"


def read_yaml(path: Path) -> Any:
    """The document in ``path`` as plain Python data (``None`` for an empty file)."""
    return parse_yaml(_decode(_read(path), str(path)), str(path))


def parse_yaml(text: str, file: str) -> Any:
    """Parse YAML ``text`` (from ``file``, for messages) within the budgets."""
    loader: _BudgetLoader | None = None
    try:
        loader = _BudgetLoader(text, file)
        return loader.get_single_data()
    except ConfigFieldError:
        raise
    except yaml.reader.ReaderError as exc:
        line, column = _line_column(text, exc.position)
        found = f"character U+{exc.character:04X}" if isinstance(exc.character, int) else "an undecodable byte"
        raise ConfigFieldError("", "printable text", found, file=file, line=line, column=column) from None
    except yaml.constructor.ConstructorError as exc:
        raise _marked(exc, file, "valid YAML") from None
    except yaml.MarkedYAMLError as exc:
        raise _marked(exc, file, "valid YAML") from None
    except yaml.YAMLError as exc:
        raise ConfigFieldError("", "valid YAML", str(exc), file=file) from None
    finally:
        if loader is not None:
            loader.dispose()


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigFieldError("", "a readable file", exc.strerror or str(exc), file=str(path)) from None
    if len(data) > MAX_BYTES:
        raise ConfigFieldError(
            "", f"a file of at most {MAX_BYTES // 1024} KiB", "a larger file (it was not parsed)", file=str(path)
        )
    return data


def _decode(data: bytes, file: str) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            raise ConfigFieldError(
                "", "UTF-8 text", f"{encoding} (a byte order mark)", file=file, hint="save the file as UTF-8"
            )
    nul = data.find(b"\x00")
    if nul >= 0:
        line, column = _line_column(data, nul)
        raise ConfigFieldError(
            "", "UTF-8 text", "NUL bytes (UTF-16 or UTF-32 text?)", file=file, line=line, column=column,
            hint="save the file as UTF-8",
        )  # fmt: skip
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _line_column(data, exc.start)
        found = f"byte 0x{data[exc.start]:02x}, which is not UTF-8"
        raise ConfigFieldError(
            "", "UTF-8 text", found, file=file, line=line, column=column, hint="save the file as UTF-8"
        ) from None


def _line_column(text: str | bytes, position: int) -> tuple[int, int]:
    newline = "\n" if isinstance(text, str) else b"\n"
    line = text.count(newline, 0, position) + 1  # type: ignore[arg-type]
    start = text.rfind(newline, 0, position) + 1  # type: ignore[arg-type]
    return line, position - start + 1


def _marked(exc: yaml.MarkedYAMLError, file: str, expected: str) -> ConfigFieldError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or ""
    found = "a syntax error: " + (", ".join(str(p) for p in (exc.context, exc.problem) if p) or "unknown")
    if "constructor for the tag" in problem:
        expected = "plain YAML values (no tags)"
        found = problem.replace("could not determine a constructor for the tag", "the tag")
    elif "unhashable key" in problem:
        expected, found = "keys that are plain values (strings)", "a list or a mapping as a key"
    elif problem.startswith("found undefined alias"):
        expected, found = "an alias to an anchor defined before it", "*" + problem.split()[-1].strip("'")
    elif exc.context == "expected a single document in the stream":
        expected, found = "one YAML document", "a second document"
    return ConfigFieldError(
        "", expected, found, file=file, line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None
    )


class _BudgetLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses duplicate keys, deep nesting, recursive aliases and alias bombs."""

    def __init__(self, text: str, file: str) -> None:
        super().__init__(text)
        self._file = file
        self._path: list[str] = []
        self._depth = 0
        self._nodes = 0
        self._chars = 0
        self._sizes: dict[int, tuple[int, int]] = {}  # id(anchored node) -> (nodes, characters) it expands to

    def _error(self, node_or_mark: Any, expected: str, found: str, key: str | None = None) -> ConfigFieldError:
        mark = getattr(node_or_mark, "start_mark", node_or_mark)
        return ConfigFieldError(
            key_path(*self._path) if key is None else key,
            expected,
            found,
            file=self._file,
            line=mark.line + 1,
            column=mark.column + 1,
        )

    def _count(self, nodes: int, chars: int, mark: Any) -> None:
        self._nodes += nodes
        self._chars += chars
        if self._nodes > MAX_NODES:
            raise self._error(mark, f"at most {MAX_NODES} values once aliases are expanded", "more (an alias bomb?)")
        if self._chars > MAX_CHARS:
            raise self._error(
                mark, f"at most {MAX_CHARS // 1024**2} MiB of text once aliases are expanded", "more (an alias bomb?)"
            )

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        element = _path_element(parent, index)
        if element is not None:
            self._path.append(element)
        self._depth += 1
        try:
            event: Any = self.peek_event()
            if self._depth > MAX_DEPTH:
                raise self._error(event.start_mark, f"at most {MAX_DEPTH} levels of nesting", "deeper nesting")
            if isinstance(event, AliasEvent):
                node = super().compose_node(parent, index)
                size = self._sizes.get(id(node))
                if size is None:
                    raise self._error(
                        event.start_mark, "an alias to a finished value", f"*{event.anchor} inside itself"
                    )
                self._count(*size, event.start_mark)
                return node
            nodes, chars = self._nodes, self._chars
            self._count(1, len(event.value) if isinstance(event, ScalarEvent) else 0, event.start_mark)
            node = super().compose_node(parent, index)
            if event.anchor is not None:
                self._sizes[id(node)] = (self._nodes - nodes, self._chars - chars)
            return node
        finally:
            self._depth -= 1
            if element is not None:
                self._path.pop()

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node: MappingNode = super().compose_mapping_node(anchor)
        first: dict[tuple[str, str], ScalarNode] = {}
        for key, _value in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                continue
            seen = first.setdefault((key.tag, key.value), key)
            if seen is not key:
                path = key_path(*self._path, key.value)
                raise self._error(
                    key, "each key once", f"{key.value!r} again (first on line {seen.start_mark.line + 1})", key=path
                )
        return node


def _path_element(parent: Node | None, index: Any) -> str | None:
    """The key-path element of the node being composed (None for the root and for mapping keys)."""
    if isinstance(parent, SequenceNode):
        return f"[{index}]"
    if isinstance(parent, MappingNode) and index is not None:
        return str(index.value) if isinstance(index, ScalarNode) else "?"
    return None
