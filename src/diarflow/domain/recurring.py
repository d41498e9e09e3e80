"""Recurring voices: clusters of different episodes that are the same person (``diarflow speakers recurring``).

Each cluster is a CAM++ embedding; clusters are grouped by average-linkage
agglomeration on cosine similarity: the two groups whose members are most alike
on average merge, while that average is at least the threshold. Two clusters of
one episode are never grouped: the diarizer heard both and told them apart, and
a person named once per episode is what the grouping is for.

The threshold is measured on the AMI clips whose speakers recur across clips
(``benchmarks/recurring_voices.py``, docs/identification.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

SAME_VOICE_THRESHOLD = 0.55
"""Average CAM++ cosine at which two groups of clusters are one voice (docs/identification.md, "Recurring voices")."""
MIN_GROUPED_SECONDS = 3.0
"""Clusters with less speech are left out: an embedding of a second or two says little about the voice."""


def group_voices(embeddings: NDArray[np.floating], episodes: Sequence[str], threshold: float) -> list[list[int]]:
    """Indices of ``embeddings`` (rows) grouped by voice, largest group first; singletons included.

    ``episodes[i]`` is the episode of row ``i``; rows of one episode never share a group.
    """
    count = len(episodes)
    if count == 0:
        return []
    vectors = np.asarray(embeddings, dtype=np.float64)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    # Sums of pairwise similarities between groups: merging adds rows, so averages stay exact.
    sums = unit @ unit.T
    members = [[i] for i in range(count)]  # an empty list: a group merged into another
    seen: list[set[str]] = [{episode} for episode in episodes]
    while True:
        pair = _most_alike(sums, members, seen, threshold)
        if pair is None:
            break
        kept, merged = pair
        sums[kept, :] += sums[merged, :]
        sums[:, kept] += sums[:, merged]
        members[kept] = members[kept] + members[merged]
        members[merged] = []
        seen[kept] |= seen[merged]
    groups = [sorted(group) for group in members if group]
    return sorted(groups, key=lambda group: (-len(group), group[0]))


def _most_alike(
    sums: NDArray[np.float64], members: list[list[int]], seen: list[set[str]], threshold: float
) -> tuple[int, int] | None:
    """The two live groups of no common episode with the highest average similarity, if it reaches ``threshold``."""
    live = [i for i, group in enumerate(members) if group]
    best, best_score = None, threshold
    for position, a in enumerate(live):
        size_a = len(members[a])
        for b in live[position + 1 :]:
            if seen[a] & seen[b]:
                continue
            score = float(sums[a, b]) / (size_a * len(members[b]))
            if score >= best_score and (best is None or score > best_score):
                best, best_score = (a, b), score
    return best
