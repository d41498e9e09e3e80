"""Speaker-count hints (``num_speakers``, ``min_speakers``, ``max_speakers``), checked once for every diarizer."""

from __future__ import annotations

from diarflow.errors import InvalidInput


def check_speaker_counts(num: int | None, low: int | None, high: int | None) -> None:
    """Refuse a hint below 1, or a minimum above the maximum, naming the field."""
    for name, value in (("num_speakers", num), ("min_speakers", low), ("max_speakers", high)):
        if value is not None and value < 1:
            raise InvalidInput(name, f"must be at least 1, got {value}")
    if low is not None and high is not None and low > high:
        raise InvalidInput("min_speakers", f"{low} is above max_speakers {high}")
