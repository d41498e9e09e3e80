"""The union of time intervals, the one merge every domain module uses.

Speaker alignment merges a speaker's turns before reading its cumulative
speech time; the channels diarizer merges a track's words and the speech heard
on it. Both call :func:`merge_intervals`, so they agree on every edge case:
intervals in any order, nested ones, ones that touch (an end equal to the next
start: one interval), zero-length ones (kept, as a point of speech), and none
at all.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


def merge_intervals(starts: ArrayLike, ends: ArrayLike, *, max_gap: float = 0.0) -> FloatArray:
    """The union of [start, end] intervals as sorted, disjoint (n, 2) float rows.

    Intervals at most ``max_gap`` apart are joined too (0: only those that
    overlap or touch). Pure numpy, O(n log n).
    """
    s = np.asarray(starts, dtype=np.float64)
    e = np.asarray(ends, dtype=np.float64)
    if s.size == 0:
        return np.zeros((0, 2))
    order = np.argsort(s, kind="stable")
    s, e = s[order], np.maximum.accumulate(e[order])
    new_run = np.r_[True, s[1:] - e[:-1] > max_gap]
    firsts = np.flatnonzero(new_run)
    lasts = np.r_[firsts[1:] - 1, s.size - 1]
    return np.stack((s[firsts], e[lasts]), axis=1)
