"""Timestamps exactly as each export format spells them.

Every formatter takes whole milliseconds (see :func:`to_milliseconds`), so a
time is rounded once and the same instant prints identically in every format.
"""

from __future__ import annotations

from diarflow.errors import InvalidInput

SRT_MAX_MILLISECONDS = 100 * 3_600_000 - 1
"""``99:59:59,999``: SRT's hour field has two digits and players parse it as such."""


def to_milliseconds(seconds: float) -> int:
    """Seconds to whole milliseconds, rounded to nearest."""
    return round(seconds * 1000)


def _clock(milliseconds: int) -> tuple[int, int, int, int]:
    seconds, millis = divmod(milliseconds, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return hours, minutes, seconds, millis


def srt_timestamp(milliseconds: int) -> str:
    """``HH:MM:SS,mmm`` (comma before the milliseconds).

    Refuses 100 hours or more with an :class:`~diarflow.errors.InvalidInput`:
    a three-digit hour field is not SRT, and players misread it silently.
    """
    if milliseconds > SRT_MAX_MILLISECONDS:
        hours = milliseconds // 3_600_000
        raise InvalidInput(
            "srt",
            f"a time of {hours} hours does not fit SRT's two-digit hours (at most 99:59:59,999); "
            "export WebVTT (vtt) instead, whose hours may have more digits",
        )
    hours, minutes, seconds, millis = _clock(milliseconds)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d},{millis:03d}"


def vtt_timestamp(milliseconds: int) -> str:
    """``HH:MM:SS.mmm``; WebVTT allows "two or more" hour digits, so 100+ hours just print wider."""
    hours, minutes, seconds, millis = _clock(milliseconds)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def clock_timestamp(milliseconds: int) -> str:
    """``HH:MM:SS`` for readable transcripts, truncated to the second like a player's clock."""
    hours, minutes, seconds, _ = _clock(milliseconds)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def decimal_seconds(milliseconds: int) -> str:
    """Seconds with exactly three decimals (``12.340``), as RTTM tools expect."""
    seconds, millis = divmod(milliseconds, 1000)
    return f"{seconds}.{millis:03d}"
