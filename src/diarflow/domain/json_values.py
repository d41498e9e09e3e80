"""Describing decoded JSON values in error messages, and checking JSON numbers, times and nesting.

Shared by every reader of untrusted JSON (transcripts, diarizations, exports,
the report) so that all of them word their errors the same way, and none of
them meets a value it cannot handle: an integer too large for a float or an
int64, a time past :data:`MAX_SECONDS`, a document nested deeper than a
recursive reader can follow. Nothing here recurses into a value.
"""

from __future__ import annotations

import math
import re
from typing import Any, TypeGuard

import orjson

from diarflow.contracts._base import MAX_SECONDS

NUMBER_TYPES = frozenset({int, float})
"""JSON numbers as decoded; ``bool`` is deliberately not one."""
_MAX_SHOWN = 40

TIME_RANGE = f"a finite, non-negative time up to {MAX_SECONDS:,} s (48 h)"
"""How messages describe a valid time: ``words[3].start: must be <TIME_RANGE>, got 1e+306``."""

MAX_NESTING = 1024
"""Arrays and objects inside each other that a JSON document may hold: orjson's own limit.

Every reader decodes with orjson (or msgspec, falling back to orjson when it
would recurse too deep), so a deeper document is refused naming where it
nests too deep, and no reader ever walks a decoded value recursively.
"""
_PATH_SEARCH_LIMIT = 8 * 1024 * 1024
"""Characters scanned to name where a document nests too deep; past them the message gives the position."""
_PATH_PARTS_SHOWN = 8
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:,]')


def is_time(value: object) -> TypeGuard[float]:
    """Whether a decoded JSON value is a moment in an episode: a number from 0 to :data:`MAX_SECONDS`.

    Compares without converting, so an integer of any size is simply out of range (NaN too).
    """
    return isinstance(value, int | float) and type(value) is not bool and 0 <= value <= MAX_SECONDS


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


def undecodable(data: bytes | str, error: orjson.JSONDecodeError, document: str) -> tuple[str, str]:
    """``(field, problem)`` for a document orjson refused; ``document`` names it (``transcript``).

    Nesting deeper than :data:`MAX_NESTING` is named by the path where it
    happens (``metadata.x[0][0]…``), found by scanning the text up to that
    point; any other defect by its position, as orjson reports it.
    """
    if error.msg != "depth limit exceeded":
        return document, f"is not valid JSON: {error}"
    problem = f"is nested more than {MAX_NESTING:,} levels deep (arrays and objects inside each other)"
    path = nesting_path(data, error.pos)
    return (path, problem) if path else (document, f"{problem} at line {error.lineno}, column {error.colno}")


def nesting_path(data: bytes | str, position: int) -> str:
    """The JSON path open at character ``position`` of ``data`` (``metadata.x[0][0]…``), or "" if not found.

    Only the first :data:`_PATH_SEARCH_LIMIT` characters are scanned; the
    path is cut after a few parts, since a hostile one goes a thousand deep.
    """
    if position > _PATH_SEARCH_LIMIT:
        return ""
    if isinstance(data, bytes):
        data = data[: 4 * position].decode("utf-8", "replace")  # a character takes at most 4 bytes
    frames: list[list[Any]] = []  # [kind, key or index]: one per open array or object
    expecting_key = False
    for match in _JSON_TOKEN.finditer(data, 0, position):
        token = match.group()
        if token == "{":
            frames.append(["{", None])
            expecting_key = True
        elif token == "[":
            frames.append(["[", 0])
            expecting_key = False
        elif token in "]}":
            if frames:
                frames.pop()
            expecting_key = False
        elif token == ",":
            if frames and frames[-1][0] == "[":
                frames[-1][1] += 1
            expecting_key = bool(frames) and frames[-1][0] == "{"
        elif token == ":":
            expecting_key = False
        elif expecting_key and frames:
            try:
                frames[-1][1] = orjson.loads(token)
            except orjson.JSONDecodeError:
                frames[-1][1] = token[1:-1]
            expecting_key = False
    parts = [f"[{key}]" if kind == "[" else f".{key}" for kind, key in frames if key is not None]
    path = "".join(parts[:_PATH_PARTS_SHOWN]).lstrip(".")
    return path + "…" if len(parts) > _PATH_PARTS_SHOWN else path
