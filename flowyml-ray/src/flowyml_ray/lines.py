"""The one format of a record line in the Ray Job's log: ``flowyml|<unit>|<epoch seconds>|<text>``.

An empty unit stands for the driver itself (a unit name is never empty; ``-`` is a valid one). The
driver writes these lines; ``flowyml_ray.logs`` reads them.
"""

from __future__ import annotations

PREFIX = "flowyml|"
DRIVER = ""


def format_line(unit: str | None, ts: float, text: str) -> str:
    return f"{PREFIX}{unit or DRIVER}|{ts:.3f}|{text}\n"


def split_line(line: str) -> tuple[str | None, float, str] | None:
    """(unit or None for the driver, time, text) of a record line; None for any other line."""
    if not line.startswith(PREFIX) or line.count("|") < 3:
        return None
    _, tag, stamp, text = line.split("|", 3)
    try:
        ts = float(stamp)
    except ValueError:
        return None
    return (None if tag == DRIVER else tag), ts, text
