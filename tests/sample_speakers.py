"""Where each speaker of the bundled sample speaks alone, from its reference RTTM (for model tests and benchmarks)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tests.recut import sample_reference


def speaker_names() -> list[str]:
    return sorted({speaker for _, _, speaker in sample_reference()})


def solo_mask(times: NDArray[np.float64], speaker: str) -> NDArray[np.bool_]:
    """At each time (seconds into the sample): does ``speaker`` speak, and nobody else?"""
    active = {name: np.zeros(times.shape, dtype=bool) for name in speaker_names()}
    for start, end, name in sample_reference():
        active[name] |= (times >= start) & (times < end)
    others = np.zeros(times.shape, dtype=bool)
    for name, mask in active.items():
        if name != speaker:
            others |= mask
    return active[speaker] & ~others


def solo_windows(length: float, step: float) -> list[tuple[float, str]]:
    """Starts of ``length``-second windows every ``step`` seconds inside one speaker's solo speech, with the speaker."""
    grid = np.arange(0.0, 30.0, 0.01)
    windows = []
    for speaker in speaker_names():
        solo = solo_mask(grid, speaker)
        for start in np.arange(0.0, 30.0 - length + 1e-9, step):
            inside = (grid >= start) & (grid < start + length)
            if solo[inside].all():
                windows.append((round(float(start), 3), speaker))
    return windows
