"""Identifier validation: every id becomes part of a storage key."""

from __future__ import annotations

import re

from diarflow.errors import InvalidId

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
"""Episode, podcast and voiceprint ids (README, "Storage layout"): ASCII only, no separators."""


def validate_id(value: object, field: str = "episode_id") -> str:
    """Return ``value`` if it is a valid id, else raise :class:`InvalidId` naming ``field``.

    The pattern admits no ``/``, ``.`` or non-ASCII look-alikes, so an id can
    never escape its key prefix.
    """
    if not isinstance(value, str):
        raise InvalidId(field, f"must be a string, got {type(value).__name__}")
    if ID_PATTERN.fullmatch(value) is None:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise InvalidId(
            field,
            f"{shown!r} is not a valid id: use 1-128 ASCII letters, digits, '_' or '-', "
            "starting with a letter or digit",
        )
    return value
