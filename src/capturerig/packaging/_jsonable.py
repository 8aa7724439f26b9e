"""Plain JSON data from the metadata a package records."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["jsonable"]


def jsonable(value: Any, where: str) -> Any:
    """``value`` as JSON data: mappings, sequences, bytes as hex, numpy values, datetimes as ISO 8601.

    Raises
    ------
    ValueError
        Naming ``where`` (a dotted path) for a value JSON cannot hold (NaN, an arbitrary object ...).
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value} cannot be stored in JSON")
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), where)
    if isinstance(value, bytes | bytearray | memoryview):
        # DMX frames are raw bytes; hex keeps them readable and diffable (base64 would not).
        return bytes(value).hex()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, Sequence | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [jsonable(item, f"{where}[{index}]") for index, item in enumerate(items)]
    raise ValueError(f"{where}: cannot store {type(value).__name__} in package.json")
