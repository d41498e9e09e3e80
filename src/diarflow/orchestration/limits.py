"""Input size limits, checked before the input is read into memory.

A transcript over ``DIARFLOW_MAX_TRANSCRIPT_BYTES`` (default 512 MB) or a
diarization with more turns than ``DIARFLOW_MAX_SEGMENTS`` (default 500,000)
is refused with an error naming the limit and the setting, instead of
exhausting memory halfway through parsing it. A diarizer's turns past
``MAX_SECONDS`` (48 h) are refused before they are written, as readers would
refuse them anyway.
"""

from __future__ import annotations

import numpy as np

from diarflow.contracts import MAX_SECONDS
from diarflow.domain.json_values import TIME_RANGE
from diarflow.domain.turns import Turns
from diarflow.errors import InvalidDiarization, InvalidTranscript


def check_transcript_size(size: int | None, limit: int, *, field: str = "transcript") -> None:
    """Refuse a transcript over ``limit`` bytes (``DIARFLOW_MAX_TRANSCRIPT_BYTES``)."""
    if size is not None and size > limit:
        raise InvalidTranscript(
            field, f"is {size:,} bytes, over the {limit:,}-byte limit (raise DIARFLOW_MAX_TRANSCRIPT_BYTES to allow it)"
        )


def check_segment_count(count: int, limit: int, *, field: str = "segments") -> None:
    """Refuse a diarization with more than ``limit`` turns (``DIARFLOW_MAX_SEGMENTS``)."""
    if count > limit:
        raise InvalidDiarization(
            field, f"has {count:,} segments, over the {limit:,}-segment limit (raise DIARFLOW_MAX_SEGMENTS to allow it)"
        )


def check_turn_times(turns: Turns, *, field: str = "segments") -> None:
    """Refuse a diarizer's turns outside 0 to ``MAX_SECONDS``, naming the first (``segments[i].end``) as written."""
    outside = np.flatnonzero(~((turns.starts >= 0) & (turns.ends <= MAX_SECONDS)))  # NaN fails too
    if outside.size:
        i = int(outside[0])
        start, end = float(turns.starts[i]), float(turns.ends[i])
        name, value = ("start", start) if not start >= 0 else ("end", end)
        raise InvalidDiarization(f"{field}[{i}].{name}", f"must be {TIME_RANGE}, got {value!r}")


BYTES_PER_SEGMENT = 2048
"""A stored segment takes ~80 bytes of JSON; this budget (twice, for exclusive turns) leaves room for long labels."""


def check_diarization_size(size: int | None, max_segments: int, *, field: str) -> None:
    """Refuse a stored diarization far larger than ``max_segments`` turns can take, before reading it."""
    limit = 2 * max_segments * BYTES_PER_SEGMENT + 1024 * 1024
    if size is not None and size > limit:
        raise InvalidDiarization(
            field,
            f"is {size:,} bytes, more than {max_segments:,} segments can take ({limit:,} bytes; "
            "raise DIARFLOW_MAX_SEGMENTS to allow it)",
        )
