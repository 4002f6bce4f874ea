"""JSON-safe conversion of results: one rule for the CLI, the study runner and result ``to_dict``.

Numbers stay in the display units that each ``to_dict()`` chooses; this module only makes the
structure JSON-safe (non-finite floats become ``null``, numpy scalars and arrays become Python
numbers and lists).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tracerdiff.quantity import Measured


def jsonable(obj):
    """Recursively convert ``obj`` (results, dicts, lists, numpy values) to JSON-safe structures."""
    if isinstance(obj, Measured):
        return obj.to_dict()
    if hasattr(obj, "to_dict"):
        return jsonable(obj.to_dict())
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def dataclass_dict(obj) -> dict:
    """``to_dict`` for result dataclasses: every field through :func:`jsonable`."""
    return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
