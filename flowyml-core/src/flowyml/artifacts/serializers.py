"""Turning step outputs into bytes and back: JSON, raw bytes, numpy, pandas, pickle.

Pickle executes code on load: only read pickled artifacts from a store you trust (your own
bucket); every other serializer is data-only.
"""

from __future__ import annotations

import io
import json
import pickle
import sys
from typing import Any

#: serializer name -> file extension
EXTENSIONS = {"json": "json", "bytes": "bin", "numpy": "npy", "pandas": "pkl", "pickle": "pkl"}


def type_name(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def _json_roundtrips(obj: Any) -> bytes | None:
    try:
        text = json.dumps(obj, sort_keys=False, allow_nan=True)
    except (TypeError, ValueError):
        return None
    try:
        if json.loads(text) != obj:  # tuples, non-str keys, ... would come back different
            return None
    except ValueError:
        return None
    return text.encode()


def serialize(obj: Any) -> tuple[str, bytes]:
    """Pick the most portable serializer that round-trips ``obj``; return (name, bytes)."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return "bytes", bytes(obj)
    if "numpy" in sys.modules:
        import numpy as np

        if isinstance(obj, np.ndarray) and obj.dtype != object:
            buf = io.BytesIO()
            np.save(buf, obj, allow_pickle=False)
            return "numpy", buf.getvalue()
    if "pandas" in sys.modules:
        import pandas as pd

        if isinstance(obj, (pd.DataFrame, pd.Series)):
            return "pandas", pickle.dumps(obj, protocol=5)
    if isinstance(obj, (dict, list, str, int, float, bool)) or obj is None:
        data = _json_roundtrips(obj)
        if data is not None:
            return "json", data
    return "pickle", pickle.dumps(obj, protocol=5)


def deserialize(serializer: str, data: bytes) -> Any:
    if serializer == "json":
        return json.loads(data)
    if serializer == "bytes":
        return data
    if serializer == "numpy":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if serializer in ("pickle", "pandas"):
        return pickle.loads(data)
    raise ValueError(f"unknown serializer {serializer!r}")
