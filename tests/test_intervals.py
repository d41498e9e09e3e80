"""One interval merge for the whole domain: alignment's speaker speech and the
channels diarizer's track speech agree on every edge case."""

from __future__ import annotations

import numpy as np
import pytest

from diarflow.domain import alignment, channels
from diarflow.domain.intervals import merge_intervals

# (starts, ends) -> the union as sorted, disjoint [start, end] rows
EDGE_CASES = {
    "none": ([], [], []),
    "one": ([1.0], [2.0], [[1.0, 2.0]]),
    "zero-length alone": ([2.0], [2.0], [[2.0, 2.0]]),
    "zero-length apart": ([0.0, 1.5], [1.0, 1.5], [[0.0, 1.0], [1.5, 1.5]]),
    "zero-length at an end": ([0.0, 1.0], [1.0, 1.0], [[0.0, 1.0]]),
    "zero-length at a start": ([1.0, 1.0], [1.0, 2.0], [[1.0, 2.0]]),
    "touching": ([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [[0.0, 3.0]]),
    "overlapping": ([0.0, 0.5], [1.0, 2.0], [[0.0, 2.0]]),
    "nested": ([0.0, 1.0], [5.0, 2.0], [[0.0, 5.0]]),
    "nested, then one that starts inside the first": ([0.0, 1.0, 4.0], [5.0, 2.0, 6.0], [[0.0, 6.0]]),
    "equal starts": ([1.0, 1.0], [2.0, 1.5], [[1.0, 2.0]]),
    "unsorted": ([3.0, 0.0, 1.0], [4.0, 0.5, 3.0], [[0.0, 0.5], [1.0, 4.0]]),
    "unsorted and apart": ([5.0, 1.0, 3.0], [6.0, 2.0, 4.0], [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]),
}


@pytest.mark.parametrize(("starts", "ends", "union"), EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_merge_intervals_edge_cases(starts: list[float], ends: list[float], union: list[list[float]]) -> None:
    merged = merge_intervals(np.array(starts), np.array(ends))
    assert merged.shape == (len(union), 2)
    assert merged.dtype == np.float64
    assert merged.tolist() == union


@pytest.mark.parametrize(("starts", "ends", "union"), EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_alignment_merges_a_speakers_turns_the_same_way(
    starts: list[float], ends: list[float], union: list[list[float]]
) -> None:
    speech = alignment._merge(np.array(starts, dtype=np.float64), np.array(ends, dtype=np.float64))
    assert speech.starts.tolist() == [row[0] for row in union]
    assert speech.ends.tolist() == [row[1] for row in union]
    lengths = [end - start for start, end in union]
    assert speech.before.tolist() == [sum(lengths[:i]) for i in range(len(union))]


def test_the_channels_diarizer_uses_the_same_merge() -> None:
    assert channels.merge_intervals is merge_intervals


def test_max_gap_joins_intervals_that_close_and_no_closer() -> None:
    starts, ends = np.array([0.0, 1.5, 3.0]), np.array([1.0, 2.0, 3.5])
    assert merge_intervals(starts, ends, max_gap=0.5).tolist() == [[0.0, 2.0], [3.0, 3.5]]
    assert merge_intervals(starts, ends, max_gap=0.49).tolist() == [[0.0, 1.0], [1.5, 2.0], [3.0, 3.5]]
    assert merge_intervals([2, 0], [3, 1]).tolist() == [[0.0, 1.0], [2.0, 3.0]]  # any numbers in, floats out
