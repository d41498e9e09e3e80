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

    ``episodes[i]`` is the episode of row ``i``; rows of one episode never share a group. Each merge is one
    vectorised pass over the groups (a podcast's hundreds of unnamed clusters group in well under a second).
    """
    count = len(episodes)
    if count == 0:
        return []
    vectors = np.asarray(embeddings, dtype=np.float64)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    # Sums of pairwise similarities between groups: merging adds rows, so averages stay exact.
    sums = unit @ unit.T
    sizes = np.ones(count)
    names = np.asarray(episodes, dtype=object)
    apart = names[:, np.newaxis] == names[np.newaxis, :]  # groups sharing an episode never merge
    live = np.ones(count, dtype=bool)
    members = [[i] for i in range(count)]
    while True:
        average = sums / np.outer(sizes, sizes)
        allowed = ~apart & live[:, np.newaxis] & live[np.newaxis, :]
        np.fill_diagonal(allowed, False)
        candidates = np.where(allowed, average, -np.inf)
        kept, merged = np.unravel_index(int(np.argmax(candidates)), candidates.shape)
        if candidates[kept, merged] < threshold:
            break
        kept, merged = min(kept, merged), max(kept, merged)  # the earlier group absorbs the later one
        sums[kept, :] += sums[merged, :]
        sums[:, kept] += sums[:, merged]
        sizes[kept] += sizes[merged]
        apart[kept, :] |= apart[merged, :]
        apart[:, kept] |= apart[:, merged]
        live[merged] = False
        members[kept] += members[merged]
    groups = [sorted(members[i]) for i in np.flatnonzero(live)]
    return sorted(groups, key=lambda group: (-len(group), group[0]))
