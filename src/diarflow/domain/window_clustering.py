"""Who is who across windows: clustering the embeddings of each window's local speakers.

A segmentation window names at most three *local* speakers, each only within
that window. Each active local speaker gets one embedding (from the frames
where it speaks alone); clustering those embeddings across the episode says
which local speakers are the same person. Two rules shape it:

* **One window's local speakers are different people** (the segmentation
  model separated them): the final assignment is a matching per window
  (Hungarian algorithm on the window's similarity matrix), never two local
  speakers to one cluster.
* **Linear cost.** Agglomerative clustering is quadratic, so it runs on at
  most :data:`MAX_CLUSTERED` embeddings — those with the most solo speech,
  the most reliable — and every embedding is then matched to the resulting
  centroids, which costs one small matching per window.

The speaker count comes from two dendrograms. Over every embedding, merges
stop at :attr:`ClusteringOptions.threshold`, and clusters holding less than
:attr:`ClusteringOptions.min_speech` seconds of solo speech, or less than
:attr:`ClusteringOptions.min_share` of all the solo speech clustered, are too
small to be a person (stray windows; a few windows whose voice a background
bent): their embeddings join the nearest large cluster. That loose threshold
is what pays on meetings, where short, quiet speakers are best merged into a
neighbour — but it also merges two clearly
different voices of one recording (two voices on one telephone line meet at
cosine ~0.55). So the *reliable* embeddings alone (at least
:attr:`ClusteringOptions.reliable_speech` seconds alone in one window, whose
same-voice similarities are tight) are clustered again at the stricter
:attr:`ClusteringOptions.reliable_threshold`; when they tell more voices
apart, their clusters are the speakers. That stricter cut also splits one
voice whose level or room varies (meeting voices re-cut as a podcast: five
speakers found for three), so it is checked against what the segmentation
heard: two people who talk to each other are heard as two local speakers of
one window wherever a turn passes from one to the other, and one voice split
in two almost never is. Two strict clusters of one loose cluster stay apart
only if, in at least :attr:`ClusteringOptions.heard_together` of the windows
where the rarer one speaks, the other speaks too. ``num_speakers`` /
``min_speakers`` / ``max_speakers`` override the estimate. Pure numpy/scipy.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

MAX_CLUSTERED = 3000
"""Embeddings clustered agglomeratively; the others are matched to the centroids (memory ~ MAX_CLUSTERED²)."""
MAX_SPEAKERS = 10
REFINE_ITERATIONS = 3
"""k-means steps that move the centroids to every embedding's voice (on the meeting clips and re-cuts they
change nothing; on a 1 h episode three reach the fixed point)."""


@dataclass(frozen=True)
class ClusteringOptions:
    """How embeddings become speakers; the defaults are tuned on the meeting clips' train split."""

    threshold: float = 0.55
    """Mean cosine distance between two clusters' members at which merging stops (average linkage)."""
    min_speech: float = 1.0
    """Seconds of solo speech a cluster needs to count as a speaker of its own."""
    min_share: float = 0.01
    """Share of the clustered embeddings' solo speech a cluster needs too (in a 1 h episode, ~36 s). Noise or
    music under a podcast bends a few windows' embeddings into a cluster of their own: a third voice, or
    worse, two real voices merged beside it (re-cuts with 10-20 dB SNR or a music bed: docs/local-diarizer.md).
    The largest share the meeting clips' train split loses nothing at (1.25 % loses half a point)."""
    reliable_speech: float = 1.5
    """Seconds a local speaker must speak alone in its window for its embedding to count as reliable."""
    reliable_threshold: float = 0.4
    """Mean cosine distance at which merging stops among the reliable embeddings."""
    heard_together: float = 0.25
    """Share of the windows where the rarer of two reliable clusters (of one loose cluster) speaks in which the
    other speaks too, below which they are one voice (tuning sets: 0.2-0.3 all alike; 0.35 merges two voices
    speaking in 20-40 s monologues, whose windows meet only at the turn changes)."""
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None


@dataclass(frozen=True, eq=False)
class WindowSpeakers:
    """The embedding of each active (window, local speaker), with how much it spoke alone (seconds)."""

    windows: IntArray
    locals: IntArray
    embeddings: FloatArray
    speech: FloatArray

    def __len__(self) -> int:
        return int(self.windows.size)


@dataclass(frozen=True, eq=False)
class SpeakerAssignment:
    """The cluster of every (window, local speaker) (-1: none) and how clearly it won (cosine margin)."""

    clusters: IntArray
    """(windows, local speakers)."""
    margins: FloatArray
    """(windows, local speakers): similarity to the chosen centroid minus the best other one (NaN: none)."""
    centroids: FloatArray

    @property
    def num_speakers(self) -> int:
        return int(self.centroids.shape[0])


def assign_speakers(
    speakers: WindowSpeakers, num_windows: int, num_locals: int, options: ClusteringOptions | None = None
) -> SpeakerAssignment:
    """Cluster the window speakers and match every one of them to a speaker, distinct within each window."""
    options = options or ClusteringOptions()
    clusters = np.full((num_windows, num_locals), -1, dtype=np.int64)
    margins = np.full((num_windows, num_locals), np.nan)
    if len(speakers) == 0:
        return SpeakerAssignment(clusters, margins, np.zeros((0, speakers.embeddings.shape[1])))
    points = _normalise(speakers.embeddings)
    centroids = refined_centroids(
        points, speakers.speech, _centroids_of(points, speakers.speech, speakers.windows, options)
    )
    similarity = points @ centroids.T
    chosen, margin = _match_per_window(speakers.windows, similarity)
    clusters[speakers.windows, speakers.locals] = chosen
    margins[speakers.windows, speakers.locals] = margin
    return SpeakerAssignment(clusters, margins, centroids)


def room_for_speakers(options: ClusteringOptions, found: int) -> int:
    """How many speakers may join the ``found`` ones: none when the count is given."""
    if options.num_speakers is not None:
        return 0
    return max(0, (options.max_speakers or MAX_SPEAKERS) - found)


def with_new_speakers(
    assignment: SpeakerAssignment, speakers: WindowSpeakers, centroids: FloatArray
) -> SpeakerAssignment:
    """``assignment`` with ``centroids`` added as speakers after its own, every window matched again."""
    if centroids.shape[0] == 0:
        return assignment
    every = np.vstack((assignment.centroids, centroids))
    clusters = assignment.clusters.copy()
    margins = assignment.margins.copy()
    if len(speakers):
        chosen, margin = _match_per_window(speakers.windows, _normalise(speakers.embeddings) @ every.T)
        clusters[speakers.windows, speakers.locals] = chosen
        margins[speakers.windows, speakers.locals] = margin
    return SpeakerAssignment(clusters, margins, every)


def speaker_voices(speakers: WindowSpeakers, assignment: SpeakerAssignment) -> FloatArray:
    """(speakers, dim) unit vectors: each speaker's speech-weighted mean of the embeddings matched to it.

    What identification compares with voiceprints: many windows' embeddings of one voice, averaged, are
    steadier than any one stretch of audio. A speaker no embedding was matched to keeps its centroid.
    """
    chosen = assignment.clusters[speakers.windows, speakers.locals] if len(speakers) else np.zeros(0, np.int64)
    matched = chosen >= 0
    count = assignment.num_speakers
    if not matched.any():
        return assignment.centroids
    points = _normalise(speakers.embeddings[matched])
    means = mean_directions(points, speakers.speech[matched], chosen[matched], count=count)
    members = np.bincount(chosen[matched], minlength=count) > 0
    return np.where(members[:, np.newaxis], means, assignment.centroids)


def _centroids_of(points: FloatArray, speech: FloatArray, windows: IntArray, options: ClusteringOptions) -> FloatArray:
    """The speakers' centroids (unit vectors), from agglomerative clustering of the most reliable embeddings."""
    from scipy.cluster.hierarchy import fcluster, linkage

    subset = np.argsort(-speech, kind="stable")[:MAX_CLUSTERED]
    low, high = _count_bounds(options, len(subset))
    if len(subset) == 1:
        return points[subset]
    # Average linkage never inverts (merge distances only grow), so cutting at k clusters gives exactly k.
    tree = linkage(points[subset], method="average", metric="cosine")
    if options.num_speakers is not None:
        labels = fcluster(tree, t=low, criterion="maxclust") - 1
    else:
        labels = _cut(tree, points[subset], speech[subset], options.threshold, options)
        found = int(labels.max()) + 1
        is_reliable = speech[subset] >= options.reliable_speech
        reliable = subset[is_reliable]
        if found < high and reliable.size >= 2:
            strict = linkage(points[reliable], method="average", metric="cosine")
            apart = _cut(strict, points[reliable], speech[reliable], options.reliable_threshold, options)
            if int(apart.max()) + 1 > found:  # joining only lowers the count: below `found` it changes nothing
                apart = _one_voice_rejoined(
                    apart,
                    loose=labels[is_reliable],
                    points=points,
                    speech=speech,
                    windows=windows,
                    reliable=reliable,
                    heard_together=options.heard_together,
                )
            voices = int(apart.max()) + 1
            if found < voices <= high:
                return mean_directions(points[reliable], speech[reliable], apart)
            low = max(low, min(voices, high))
        if not low <= found <= high:
            labels = fcluster(tree, t=min(max(found, low), high), criterion="maxclust") - 1
    return mean_directions(points[subset], speech[subset], labels)


def _one_voice_rejoined(
    strict: IntArray,
    *,
    loose: IntArray,
    points: FloatArray,
    speech: FloatArray,
    windows: IntArray,
    reliable: IntArray,
    heard_together: float,
) -> IntArray:
    """The strict clusters of the reliable embeddings, two of one loose cluster joined while the windows
    seldom hear both (one voice split in two); labels renumbered 0..k-1.

    ``strict`` and ``loose`` label the embeddings ``reliable``; every embedding (``points``, one per
    ``windows`` entry) is given to its nearest strict centroid to say which windows hear which cluster.
    Joins go one pair at a time, the most alike first, and a joined pair is heard wherever either was:
    a chain (A seldom with B, B seldom with C) never joins A and C when they are heard together.
    """
    count = int(strict.max()) + 1
    if count < 2:
        return strict
    centroids = mean_directions(points[reliable], speech[reliable], strict)
    heard = np.zeros((count, int(windows.max()) + 1), dtype=np.bool_)
    heard[np.argmax(points @ centroids.T, axis=1), windows] = True
    home = np.array([np.bincount(loose[strict == k]).argmax() for k in range(count)])
    weights = np.bincount(strict, weights=speech[reliable], minlength=count)
    sums = centroids * weights[:, np.newaxis]  # un-normalised, so a joined pair's direction is their weighted mean
    group = np.arange(count)
    while True:
        alive = np.flatnonzero(group == np.arange(count))
        directions = _normalise(sums)
        pairs = [
            (float(directions[a] @ directions[b]), int(a), int(b))
            for i, a in enumerate(alive)
            for b in alive[i + 1 :]
            if home[a] == home[b] and _share_heard_together(heard[a], heard[b]) < heard_together
        ]
        if not pairs:
            break
        _, keep, join = max(pairs)
        group[group == join] = keep
        heard[keep] |= heard[join]
        sums[keep] += sums[join]
    return np.unique(group[strict], return_inverse=True)[1].astype(np.int64)


def _share_heard_together(first: NDArray[np.bool_], second: NDArray[np.bool_]) -> float:
    """Of the windows hearing the rarer of two clusters, the share that hear the other too (0 if none hear it:
    a cluster no embedding is nearest to is no person of its own)."""
    rarer_windows = min(int(first.sum()), int(second.sum()))
    return int((first & second).sum()) / rarer_windows if rarer_windows else 0.0


def refined_centroids(
    points: FloatArray, speech: FloatArray, centroids: FloatArray, iterations: int = REFINE_ITERATIONS
) -> FloatArray:
    """Centroids re-estimated from every embedding nearest them (a few k-means steps; the count stays).

    Clustering decides from a subset (the reliable embeddings, or the first :data:`MAX_CLUSTERED`), whose
    means can sit off the voices' centres: on a 1 h episode they put 5 % of its speech on the wrong voice.
    """
    for _ in range(iterations):
        nearest = np.argmax(points @ centroids.T, axis=1)
        members = np.bincount(nearest, minlength=centroids.shape[0]) > 0
        means = mean_directions(points, speech, nearest, count=centroids.shape[0])
        updated = np.where(members[:, np.newaxis], means, centroids)  # an empty cluster keeps its own
        if np.allclose(updated, centroids):
            break
        centroids = updated
    return centroids


def _cut(
    tree: FloatArray, points: FloatArray, speech: FloatArray, threshold: float, options: ClusteringOptions
) -> IntArray:
    """The dendrogram's clusters at ``threshold``, the small ones absorbed: labels 0..k-1.

    Small: under ``options.min_speech`` seconds of solo speech, or under ``options.min_share`` of ``speech``'s.
    """
    from scipy.cluster.hierarchy import fcluster

    labels = np.asarray(fcluster(tree, t=threshold, criterion="distance") - 1, dtype=np.int64)
    smallest = max(options.min_speech, options.min_share * float(speech.sum()))
    return _absorb_small(points, speech, labels, smallest)


def _absorb_small(points: FloatArray, speech: FloatArray, labels: IntArray, smallest: float) -> IntArray:
    """Clusters with less than ``smallest`` seconds join the nearest large one; labels renumbered 0..k-1."""
    totals = np.bincount(labels, weights=speech)
    large = np.flatnonzero(totals >= smallest)
    if large.size == 0:  # nobody spoke long enough alone: the largest cluster stands for them all
        large = np.array([int(np.argmax(totals))])
    centroids = mean_directions(points, speech, labels)[large]
    nearest = large[np.argmax(points @ centroids.T, axis=1)]
    kept = np.isin(labels, large)
    merged = np.where(kept, labels, nearest)
    return np.searchsorted(large, merged).astype(np.int64)


def mean_directions(points: FloatArray, weights: FloatArray, labels: IntArray, count: int | None = None) -> FloatArray:
    """Each label's speech-weighted mean direction (``count`` rows: labels 0..count-1; default, as many as used)."""
    count = int(labels.max()) + 1 if count is None else count
    sums = np.zeros((count, points.shape[1]))
    np.add.at(sums, labels, points * np.maximum(weights, 1e-6)[:, np.newaxis])
    return _normalise(sums)


def _match_per_window(windows: IntArray, similarity: FloatArray) -> tuple[IntArray, FloatArray]:
    """Per window, its local speakers matched to distinct speakers (max total similarity); the margins."""
    from scipy.optimize import linear_sum_assignment

    chosen = np.full(windows.size, -1, dtype=np.int64)
    order = np.argsort(windows, kind="stable")
    bounds = np.flatnonzero(np.r_[True, windows[order][1:] != windows[order][:-1], True])
    for start, stop in itertools.pairwise(bounds.tolist()):
        rows = order[start:stop]
        if rows.size == 1:
            chosen[rows[0]] = int(np.argmax(similarity[rows[0]]))
            continue
        picked_rows, picked_clusters = linear_sum_assignment(-similarity[rows])
        chosen[rows[picked_rows]] = picked_clusters  # a window with more local speakers than speakers: some none
    won = np.take_along_axis(similarity, np.maximum(chosen, 0)[:, np.newaxis], axis=1)[:, 0]
    others = similarity.copy()
    np.put_along_axis(others, np.maximum(chosen, 0)[:, np.newaxis], -np.inf, axis=1)
    runner_up = others.max(axis=1) if similarity.shape[1] > 1 else np.zeros(windows.size)
    margins = np.where(chosen >= 0, won - runner_up, np.nan)
    return chosen, margins


def _count_bounds(options: ClusteringOptions, available: int) -> tuple[int, int]:
    if options.num_speakers is not None:
        return min(options.num_speakers, available), min(options.num_speakers, available)
    low = max(1, options.min_speakers or 1)
    high = min(options.max_speakers or MAX_SPEAKERS, available)
    return min(low, high), high


def _normalise(vectors: FloatArray) -> FloatArray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float64)
