"""Sliding windows over an episode and the frame grid their outputs land on.

A segmentation model sees a fixed-length window of audio (10 s) and answers
one vector per frame (about 17 ms). Windows overlap, so every moment of the
episode is seen by several of them: :class:`FrameGrid` places each window's
frames on one episode-wide grid, and :func:`aggregate` averages what the
windows said about each frame. Pure numpy, no I/O; memory is bounded by the
number of windows handled at once, not by the episode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class SlidingWindows:
    """Windows of ``duration`` seconds every ``step`` seconds; the last one ends with the audio."""

    duration: float
    step: float

    def starts(self, total: float) -> FloatArray:
        """Start times covering ``[0, total]``; one window (padded by the caller) when the audio is shorter."""
        if total <= self.duration:
            return np.zeros(1)
        count = math.floor((total - self.duration) / self.step) + 1
        starts = np.arange(count, dtype=np.float64) * self.step
        if starts[-1] + self.duration < total:  # the tail would be heard by no window: one more, flush with the end
            starts = np.append(starts, total - self.duration)
        return starts


@dataclass(frozen=True)
class FrameGrid:
    """The model's frames: one every ``step`` seconds, each hearing ``duration`` seconds, ``per_window`` a window."""

    step: float
    duration: float
    per_window: int

    def first_frame(self, window_starts: FloatArray) -> IntArray:
        """The episode-wide index of each window's first frame."""
        return np.rint(np.asarray(window_starts) / self.step).astype(np.int64)

    def frames_for(self, total: float) -> int:
        """Frames on the episode-wide grid for ``total`` seconds of audio."""
        return max(1, math.ceil(total / self.step))

    def centre(self, frames: IntArray | FloatArray) -> FloatArray:
        """The time each frame describes (the middle of what it hears)."""
        return np.asarray(frames, dtype=np.float64) * self.step + self.duration / 2


def aggregate(window_values: FloatArray, first_frames: IntArray, num_frames: int) -> tuple[FloatArray, FloatArray]:
    """Sum of ``window_values`` (windows × frames × channels) per episode frame, and how many windows saw it.

    Frames that fall past ``num_frames`` (a padded last window) are dropped.
    Callers add the sums of several batches of windows and divide by the
    coverage once: a 6.7-hour episode never holds every window at once.
    """
    windows, frames, channels = window_values.shape
    index = (first_frames[:, np.newaxis] + np.arange(frames)[np.newaxis, :]).ravel()
    inside = index < num_frames
    index = index[inside]
    coverage = np.bincount(index, minlength=num_frames).astype(np.float64)
    flat = window_values.reshape(windows * frames, channels)[inside]
    sums = np.zeros((num_frames, channels))
    for channel in range(channels):
        sums[:, channel] = np.bincount(index, weights=flat[:, channel], minlength=num_frames)
    return sums, coverage


def interval_mask(
    starts: FloatArray,
    ends: FloatArray,
    frames: int,
    frame_seconds: float,
    *,
    tolerance: float,
    mark_empty: bool = False,
) -> BoolArray:
    """Frames (of ``frame_seconds``) covered by any [start, end) interval, via a difference array (linear time).

    A bound within ``tolerance`` frames of a frame edge counts as on it (floating-point
    rounding). An interval that covers no frame marks none, unless ``mark_empty``: then a
    zero-length one (a word with no duration) still marks the frame it starts in.
    """
    delta = np.zeros(frames + 1, dtype=np.int64)
    first = np.clip(np.floor(np.asarray(starts) / frame_seconds + tolerance).astype(np.int64), 0, frames)
    last = np.clip(np.ceil(np.asarray(ends) / frame_seconds - tolerance).astype(np.int64), 0, frames)
    if mark_empty:
        last = np.maximum(last, np.minimum(first + 1, frames))
    keep = last > first
    np.add.at(delta, first[keep], 1)
    np.add.at(delta, last[keep], -1)
    return np.cumsum(delta[:-1]) > 0


def run_edges(mask: BoolArray) -> tuple[IntArray, IntArray]:
    """The runs of True in ``mask``: each run's first index and the index just after it."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return edges[0::2], edges[1::2]
