"""``pipeline.run(debug=True)``: flowyml's loggers at DEBUG, shown on stderr for the run."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def debug_logging(enabled: bool) -> Iterator[None]:
    """While active, the ``flowyml`` logger logs at DEBUG; a stderr handler is added if none shows it."""
    if not enabled:
        yield
        return
    logger = logging.getLogger("flowyml")
    previous = logger.level
    handler: logging.Handler | None = None
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.setLevel(previous)
        if handler is not None:
            logger.removeHandler(handler)
