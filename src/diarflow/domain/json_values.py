"""Describing decoded JSON values in error messages, and checking JSON numbers.

Shared by every reader of untrusted JSON (transcripts, diarizations) so that
all of them word their errors the same way.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

NUMBER_TYPES = frozenset({int, float})
"""JSON numbers as decoded; ``bool`` is deliberately not one."""
_MAX_SHOWN = 40


def is_finite(value: float) -> bool:
    """``math.isfinite`` that also accepts integers too large for a float (they are not finite times)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def json_type(value: Any) -> str:
    """``an object``, ``an array``, ``a string``, … for messages about the wrong kind of value."""
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if type(value) in NUMBER_TYPES else type(value).__name__)


def shown(value: Any) -> str:
    """A value as JSON for a message: short, and safe for integers too long to print."""
    if value is None:
        return "null"
    if type(value) is int:
        text = str(value) if abs(value) < 10**40 else f"an integer of {value.bit_length()} bits"
    elif type(value) in (str, bool, float):
        text = orjson.dumps(value).decode()
    else:
        text = json_type(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "…"
