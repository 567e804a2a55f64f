"""Per-step stdout/stderr capture that is safe with concurrent steps.

The seed swapped ``sys.stdout`` for each step, which mixes or loses output as soon as two steps
run at once. Here ``sys.stdout``/``sys.stderr`` are wrapped once by a tee that writes through to
the real stream and, when the current thread or task is capturing, also to its own buffer
(a ``ContextVar``, so threads and asyncio tasks each see their own).
"""

from __future__ import annotations

import contextvars
import io
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

_buffer: contextvars.ContextVar[io.StringIO | None] = contextvars.ContextVar("flowyml_capture", default=None)
_install_lock = threading.Lock()
#: Set while a step whose printed lines are labelled runs (``flowyml run --max-workers N``): see ``LineLabel``.
_label: contextvars.ContextVar[LineLabel | None] = contextvars.ContextVar("flowyml_capture_label", default=None)


#: Applied to every text written through the tee (the step-runner masks resolved secrets with it).
redact: Callable[[str], str] | None = None


class _Tee:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        written = len(text)
        if redact is not None:
            text = redact(text)
        buf = _buffer.get()
        if buf is not None:
            buf.write(text)
        label = _label.get()
        if label is not None:
            text = label.whole_lines(self._stream, text)
        self._stream.write(text)
        return written

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class LineLabel:
    """What one step prints reaches the terminal as whole lines, each starting with ``prefix``.

    Steps running at once then never share a line, and each line says whose it is. A line still
    open when the step ends is written by :meth:`flush`. The step's captured logs stay unlabelled.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._open: dict[int, tuple[TextIO, str]] = {}  # id(stream) -> (stream, text after its last newline)
        self._lock = threading.Lock()

    def whole_lines(self, stream: TextIO, text: str) -> str:
        """The complete lines of ``text`` (after what ``stream`` had open), labelled; the rest is kept."""
        with self._lock:
            head = self._open.pop(id(stream), (stream, ""))[1]
            done, newline, rest = (head + text).rpartition("\n")
            if rest:
                self._open[id(stream)] = (stream, rest)
        if not newline:
            return ""
        return "".join(f"{self.prefix}{line}\n" for line in done.split("\n"))

    def flush(self) -> None:
        """Write the lines still open, labelled."""
        with self._lock:
            items, self._open = list(self._open.values()), {}
        for stream, rest in items:
            stream.write(f"{self.prefix}{rest}\n")
            stream.flush()


def label_lines(label: LineLabel | None) -> None:
    """Label what the current thread or task prints from now on (None: stop)."""
    if label is not None and (not isinstance(sys.stdout, _Tee) or not isinstance(sys.stderr, _Tee)):
        _install()
    _label.set(label)


def install() -> None:
    """Wrap ``sys.stdout``/``sys.stderr`` in the tee now (idempotent)."""
    _install()


def _install() -> None:
    with _install_lock:
        if not isinstance(sys.stdout, _Tee):
            sys.stdout = _Tee(sys.stdout)
        if not isinstance(sys.stderr, _Tee):
            sys.stderr = _Tee(sys.stderr)


class capture_output:
    """Collect what the current thread/task prints, while still printing it."""

    __slots__ = ("_token", "buffer")

    def __enter__(self) -> io.StringIO:
        if not isinstance(sys.stdout, _Tee) or not isinstance(sys.stderr, _Tee):
            _install()
        self.buffer = io.StringIO()
        self._token = _buffer.set(self.buffer)
        return self.buffer

    def __exit__(self, *exc_info: object) -> None:
        _buffer.reset(self._token)
