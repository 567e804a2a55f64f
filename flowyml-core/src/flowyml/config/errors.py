"""The one shape of a configuration error: file, key path, what was expected, what was found.

``flowyml.yaml: stacks.prod.orchestrator.max_parallel: expected int, found float 2.7``

Backend config classes raise :class:`ConfigFieldError` from ``validate()`` with the key relative to
their own settings (``job_queue``); the loader relocates it to the file and the stack's key path.
"""

from __future__ import annotations

from typing import Any

from flowyml.core.errors import ConfigError

_MAX_SHOWN = 80  # a found value as shown
_MAX_KEY = 160  # a key path
_MAX_FOUND = 240  # the whole "found" phrase


def key_path(*parts: str) -> str:
    """Join key-path parts: ``key_path("stacks.prod", "docker", "[0]")`` -> ``stacks.prod.docker[0]``."""
    out = ""
    for part in parts:
        if not part:
            continue
        out += part if not out or part.startswith("[") else "." + part
    return out


def describe(value: Any) -> str:
    """A short, safe rendering of a found value: ``null``, ``float 2.7``, ``'lots'``, ``list [1, 2]``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"bool {'true' if value else 'false'}"
    if isinstance(value, str):
        return _clip(repr(value), _MAX_SHOWN)
    kind = "mapping" if isinstance(value, dict) else type(value).__name__
    return f"{kind} {_clip(repr(value), _MAX_SHOWN)}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ConfigFieldError(ConfigError):
    """A configuration value that cannot work: ``file[:line:col]: key: [problem: ]expected X, found Y[; hint]``.

    ``key`` is the dotted key path (``stacks.prod.resources.memory``; empty for the file itself),
    ``expected`` and ``found`` are short phrases; ``problem`` names what is wrong when "expected,
    found" alone would not (``required field missing``); ``hint`` says how to fix it.
    """

    def __init__(
        self,
        key: str,
        expected: str,
        found: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        problem: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.key = _clip(key, _MAX_KEY)
        self.expected = expected
        self.found = _clip(found, _MAX_FOUND)
        self.file = file
        self.line = line
        self.column = column
        self.problem = problem
        self.hint = hint
        super().__init__(self._text())

    def __str__(self) -> str:
        return self._text()

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (keyword-only fields travel as state)
        return (type(self), (self.key, self.expected, self.found), dict(self.__dict__))

    @classmethod
    def missing(cls, key: str, expected: str, *, hint: str | None = None) -> ConfigFieldError:
        """A required field that is not set."""
        return cls(key, expected, "nothing", problem="required field missing", hint=hint)

    def _text(self) -> str:
        parts = []
        if self.file:  # None: raised by a config class's validate(), before the loader adds the file
            where = self.file
            if self.line is not None:
                where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
            parts.append(where)
        if self.key:
            parts.append(self.key)
        body = f"expected {self.expected}, found {self.found}"
        if self.problem:
            body = f"{self.problem}: {body}"
        if self.hint:
            body += f"; {self.hint}"
        return ": ".join([*parts, body])

    def located(self, file: str | None, prefix: str = "") -> ConfigFieldError:
        """The same error in ``file``, its key under ``prefix`` (``stacks.prod.orchestrator``)."""
        key = key_path(prefix, self.key)
        return ConfigFieldError(
            key,
            self.expected,
            self.found,
            file=file or self.file,
            line=self.line,
            column=self.column,
            problem=self.problem,
            hint=self.hint,
        )
