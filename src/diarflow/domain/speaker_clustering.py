"""Speaker clustering for the offline diarizer: pure numpy/scipy, no I/O.

The transcript already says where speech is and where turns are likely to
change (word timings, Deepgram's utterances). So the diarizer embeds
*pieces* — runs of words inside one utterance, at most one GE2E window long
(1.6 s) — and this module decides who speaks in each piece:

1. :func:`plan_pieces` cuts words into pieces (never across an utterance
   boundary or a pause) and adds speech the VAD heard but nobody transcribed.
2. :func:`cluster_pieces` estimates the number of speakers and labels pieces:
   embeddings are mean-centred (the channel and the language are shared by
   everyone in an episode; what is left is mostly who speaks), candidate
   partitions for each count come from several initialisations of a
   duration-weighted spherical k-means, and the count is chosen on *raw*
   cosine scores, whose scale the encoder was trained for (see
   :func:`estimate_speaker_count`). Labels are then refined: pieces are
   re-assigned to the nearest centroid with a Viterbi pass whose switch
   penalty makes short pieces ("Hello?", "Yeah.") inherit their neighbours'
   speaker unless their own voice clearly says otherwise.
3. :func:`speech_turns` turns labelled pieces into turns on a 10 ms grid:
   speech is where the VAD *and* a word agree (plus long untranscribed speech),
   and a speaker change falls halfway between two differently labelled pieces.

Long episodes: clustering runs on at most ``max_cluster_pieces`` pieces (the
longest, spread over the episode) and every other piece is assigned to the
resulting centroids, so memory and time stay linear in the episode's length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

MAX_PIECE = 1.6
"""Longest piece, in seconds: one GE2E window, so raw scores keep the scale the encoder was trained on."""
SPLIT_GAP = 0.2
"""A pause this long (seconds) between words starts a new piece."""
RELIABLE_PIECE = 0.8
"""Pieces shorter than this (seconds) do not vote on the speaker count: their embeddings are mostly content."""
NEW_SPEAKER_SCORE = 0.65
"""Two clusters are two speakers when their pieces' mean raw cosine is below this (see estimate_speaker_count)."""
EXTRA_SPEAKER_SCORE = 0.625
"""A third (fourth, …) speaker must be clearly apart: over-splitting one voice costs more than it gains."""
MIN_SPEAKER_SHARE = 0.03
"""A cluster with less than this share of the speech is not a speaker of its own."""
MIN_SPEAKER_SECONDS = 2.0
MAX_SPEAKERS = 8
MAX_CLUSTER_PIECES = 2500
"""Above this many pieces, cluster a subset and assign the rest (keeps all-pairs work bounded)."""
SWITCH_PENALTY = 2.0
"""Viterbi cost of a speaker change between pieces less than 0.5 s apart (in score units)."""
SWITCH_PENALTY_PAUSE = 0.5
SWITCH_PENALTY_IN_UTTERANCE = 6.0
"""A change inside one of the transcriber's utterances needs clear evidence (it splits where it hears a new voice)."""
SCORE_SCALE = 20.0
"""Centred cosine to log-likelihood scale used by the Viterbi pass and the confidences."""
CONFIDENCE_SCALE = 5.0
"""Softmax temperature for confidences: a piece 0.2 closer to its own centroid than to the next gets ~0.73."""
GRID = 0.01
"""Resolution of the speech grid in seconds."""


@dataclass(frozen=True)
class Clustering:
    """Piece labels ``0..num_speakers-1`` with a confidence each, and how the count was chosen."""

    labels: IntArray
    confidences: FloatArray
    num_speakers: int
    count_scores: dict[int, float]
    """For each candidate count >= 2: the highest mean raw cosine between two of its clusters."""


# --- pieces ---------------------------------------------------------------------------


def plan_pieces(
    word_starts: FloatArray,
    word_ends: FloatArray,
    utterance_starts: FloatArray,
    speech: FloatArray,
    *,
    max_piece: float = MAX_PIECE,
    split_gap: float = SPLIT_GAP,
    untranscribed_min: float = 1.0,
) -> FloatArray:
    """(n, 2) piece [start, end] seconds, sorted by start.

    Words are grouped in order; a group ends at a pause of ``split_gap``, at an
    utterance start, or when it would pass ``max_piece`` (long groups are cut
    into equal parts at word starts). VAD ``speech`` regions of at least
    ``untranscribed_min`` seconds that hold no word become pieces too.
    """
    pieces: list[tuple[float, float]] = []
    if word_starts.size:
        order = np.argsort(word_starts, kind="stable")
        starts = word_starts[order]
        ends = np.maximum(word_ends[order], starts)
        utterance = np.searchsorted(np.sort(utterance_starts), (starts + ends) / 2, side="right")
        reach = np.maximum.accumulate(ends)
        breaks = np.flatnonzero((starts[1:] - reach[:-1] >= split_gap) | (utterance[1:] != utterance[:-1])) + 1
        bounds = np.concatenate(([0], breaks, [starts.size]))
        for first, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            _split_group(starts[first:stop], reach[first:stop], max_piece, pieces)
    for start, end in speech.tolist() if speech.size else []:
        if end - start < untranscribed_min:
            continue
        if word_starts.size and bool(np.any((word_starts < end) & (word_ends > start))):
            continue
        count = int(np.ceil((end - start) / max_piece))
        edges = np.linspace(start, end, count + 1)
        pieces.extend(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
    if not pieces:
        return np.zeros((0, 2))
    array = np.array(pieces, dtype=np.float64)
    return array[np.lexsort((array[:, 1], array[:, 0]))]


def _split_group(starts: FloatArray, ends: FloatArray, max_piece: float, out: list[tuple[float, float]]) -> None:
    begin, finish = float(starts[0]), float(ends[-1])
    parts = max(1, int(np.ceil((finish - begin) / max_piece - 1e-9)))
    if parts == 1 or starts.size == 1:
        out.append((begin, finish))
        return
    targets = np.linspace(begin, finish, parts + 1)[1:-1]
    cuts = np.unique(np.clip(np.searchsorted(starts, targets), 1, starts.size - 1))
    edges = np.concatenate(([0], cuts, [starts.size]))
    for first, stop in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        if stop > first:
            out.append((float(starts[first]), float(ends[stop - 1])))


# --- clustering -------------------------------------------------------------------------


def cluster_pieces(
    embeddings: NDArray[np.floating],
    starts: FloatArray,
    ends: FloatArray,
    *,
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    max_cluster_pieces: int = MAX_CLUSTER_PIECES,
    utterance_starts: FloatArray | None = None,
) -> Clustering:
    """Label pieces by speaker; see the module docstring for the method.

    ``utterance_starts``: where the transcriber started utterances. Its speaker labels are
    not trusted, but its boundaries are where voices usually change, so changing speaker
    *inside* an utterance costs more in the Viterbi pass.
    """
    n = len(embeddings)
    if n == 0:
        return Clustering(np.zeros(0, np.int64), np.zeros(0), 0, {})
    raw = _normalise(np.asarray(embeddings, dtype=np.float64))
    durations = np.maximum(ends - starts, 1e-3)
    weights = np.minimum(durations, MAX_PIECE)
    centred = _normalise(raw - np.average(raw, axis=0, weights=weights))

    # Only pieces long enough to carry a voice decide the count and the centroids; short ones follow.
    reliable = np.flatnonzero(durations >= RELIABLE_PIECE)
    if reliable.size < 4:
        reliable = np.arange(n, dtype=np.int64)
    subset = reliable[_cluster_subset(durations[reliable], max_cluster_pieces)]
    low, high = _count_bounds(num_speakers, min_speakers, max_speakers, subset.size)
    count, scores, partitions = estimate_speaker_count(raw[subset], centred[subset], weights[subset], low, high)
    if count == 1:
        return Clustering(np.zeros(n, np.int64), np.ones(n), 1, scores)

    centroids = _centroids(centred[subset], weights[subset], partitions[count], count)
    labels = np.argmax(centred @ centroids.T, axis=1)
    gaps = np.concatenate(([np.inf], starts[1:] - ends[:-1]))
    penalties = np.where(gaps < 0.5, SWITCH_PENALTY, SWITCH_PENALTY_PAUSE)
    if utterance_starts is not None and utterance_starts.size:
        utterance = np.searchsorted(np.sort(utterance_starts), (starts + ends) / 2, side="right")
        same_utterance = np.concatenate(([False], utterance[1:] == utterance[:-1]))
        penalties = np.where(same_utterance, SWITCH_PENALTY_IN_UTTERANCE, penalties)
    for _ in range(10):
        log_likelihood = SCORE_SCALE * (centred @ centroids.T) * weights[:, None]
        refined = viterbi(log_likelihood, penalties)
        if np.array_equal(refined, labels):
            break
        labels = refined
        if len(np.unique(labels)) < count:
            break
        centroids = _centroids(centred, weights, labels, count)
    labels, centroids = _drop_empty(labels, centroids)
    return Clustering(
        labels=labels,
        confidences=piece_confidence(centred, centroids, labels),
        num_speakers=int(centroids.shape[0]),
        count_scores=scores,
    )


def estimate_speaker_count(
    raw: FloatArray, centred: FloatArray, weights: FloatArray, low: int, high: int
) -> tuple[int, dict[int, float], dict[int, IntArray]]:
    """Choose how many speakers there are, and return each candidate partition.

    For each count k in [max(low, 2), high], the best of several k-means runs on
    the centred embeddings gives a partition. Its score is the highest, over
    pairs of its clusters, of the duration-weighted mean *raw* cosine between
    their reliable pieces. Raw GE2E scores of 1.6 s pieces sit around 0.72 for
    one voice and 0.64 for two (telephone speech of two women — a hard case):
    a pair of clusters scoring below ``NEW_SPEAKER_SCORE`` are two voices,
    whereas splits of one voice (by what is said, by the microphone) score
    higher. Pairwise means are used rather than centroid similarity because
    centroids sharpen with the number of pieces, so their similarity drifts
    with the episode's length; the mean over pairs does not.

    Two is accepted at ``NEW_SPEAKER_SCORE``; each further speaker must score
    below the stricter ``EXTRA_SPEAKER_SCORE`` and every cluster must hold a
    real share of the speech. The largest accepted count wins (``low`` when
    none is accepted).
    """
    scores: dict[int, float] = {}
    partitions: dict[int, IntArray] = {1: np.zeros(len(raw), np.int64)}
    chosen = low
    total = float(weights.sum())
    for k in range(max(low, 2), high + 1):
        labels = best_partition(centred, weights, k)
        if len(np.unique(labels)) < k:
            break
        partitions[k] = labels
        score = _max_pair_score(raw, labels, weights, k)
        scores[k] = score
        speech = np.bincount(labels, weights=weights, minlength=k)
        big_enough = bool(np.all(speech >= max(MIN_SPEAKER_SHARE * total, min(MIN_SPEAKER_SECONDS, total / k))))
        threshold = NEW_SPEAKER_SCORE if k == 2 else EXTRA_SPEAKER_SCORE
        if (score < threshold and big_enough) or k <= low:
            chosen = k
    if chosen not in partitions:  # fewer separable clusters than the caller's minimum
        chosen = max(partitions)
    return chosen, scores, partitions


def best_partition(points: FloatArray, weights: FloatArray, k: int, *, restarts: int = 8) -> IntArray:
    """The best of several weighted spherical k-means runs (highest within-cluster cosine), deterministic.

    Starts: average- and complete-linkage cuts plus seeded k-means++ draws; a single
    start too often settles on a split driven by a few odd pieces.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(points)
    if n <= k:
        return np.arange(n, dtype=np.int64) % max(k, 1)
    starts: list[IntArray] = []
    for method in ("average", "complete"):
        tree = linkage(points, method=method, metric="cosine")
        starts.append((fcluster(tree, k, "maxclust") - 1).astype(np.int64))
    rng = np.random.default_rng(0)
    probabilities = weights / weights.sum()
    for _ in range(restarts):
        seeds = [int(rng.choice(n, p=probabilities))]
        for _ in range(k - 1):
            distance = np.clip(1 - np.max(points @ points[seeds].T, axis=1), 0, None)
            mass = weights * distance**2
            seeds.append(int(rng.choice(n, p=mass / mass.sum())) if mass.sum() > 0 else int(rng.integers(n)))
        starts.append(np.argmax(points @ points[seeds].T, axis=1).astype(np.int64))
    best: tuple[float, IntArray] | None = None
    for start in starts:
        labels, objective = _spherical_kmeans(points, weights, start, k)
        if len(np.unique(labels)) == k and (best is None or objective > best[0] + 1e-9):
            best = (objective, labels)
    return best[1] if best is not None else starts[0]


def viterbi(log_likelihood: FloatArray, switch_penalty: FloatArray) -> IntArray:
    """Best label path; ``switch_penalty[i]`` is the cost of changing speaker before piece ``i``."""
    n, k = log_likelihood.shape
    if n == 0:
        return np.zeros(0, np.int64)
    score = log_likelihood[0].copy()
    back = np.zeros((n, k), dtype=np.int64)
    off_diagonal = 1.0 - np.eye(k)
    columns = np.arange(k)
    for i in range(1, n):
        moves = score[:, None] - switch_penalty[i] * off_diagonal
        back[i] = np.argmax(moves, axis=0)
        score = moves[back[i], columns] + log_likelihood[i]
    path = np.zeros(n, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def piece_confidence(centred: FloatArray, centroids: FloatArray, labels: IntArray) -> FloatArray:
    """How clearly each piece belongs to its cluster: softmax weight of its own centroid, in [0, 1]."""
    if centroids.shape[0] <= 1:
        return np.ones(len(labels))
    logits = CONFIDENCE_SCALE * (centred @ centroids.T)
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return np.clip(probabilities[np.arange(len(labels)), labels], 0.0, 1.0)


# --- turns ------------------------------------------------------------------------------------


def speech_turns(
    piece_starts: FloatArray,
    piece_ends: FloatArray,
    labels: IntArray,
    confidences: FloatArray,
    vad_speech: FloatArray,
    word_starts: FloatArray,
    word_ends: FloatArray,
    duration: float,
    *,
    bridge: float = 0.3,
    word_pad: float = 0.0,
    untranscribed_min: float = 1.0,
) -> tuple[FloatArray, FloatArray, IntArray, FloatArray]:
    """Turns (starts, ends, labels, confidences) on a 10 ms grid.

    Speech is where the VAD hears speech and a word is being said (Deepgram's
    word timings are tighter than the VAD, which bridges short pauses), plus
    untranscribed VAD regions of at least ``untranscribed_min`` seconds. Pauses
    shorter than ``bridge`` inside one speaker's speech are filled. Each speech
    frame takes the label of the piece it falls in, or, between pieces, of the
    nearer one (a change lands halfway between two pieces).
    """
    empty = (np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
    if piece_starts.size == 0 or duration <= 0:
        return empty
    frames = int(np.ceil(duration / GRID))
    vad = _mask(vad_speech[:, 0], vad_speech[:, 1], frames) if vad_speech.size else np.zeros(frames, bool)
    words = _mask(word_starts - word_pad, word_ends + word_pad, frames)
    speech = vad & words
    pieces = _mask(piece_starts, piece_ends, frames)
    speech |= vad & pieces & ~words  # untranscribed pieces (VAD-only speech)
    if vad_speech.size:
        long_untranscribed = [
            (a, b)
            for a, b in vad_speech.tolist()
            if b - a >= untranscribed_min and not words[_span(a, b, frames)].any()
        ]
        if long_untranscribed:
            extra = np.array(long_untranscribed)
            speech |= _mask(extra[:, 0], extra[:, 1], frames)

    centres = (np.arange(frames) + 0.5) * GRID
    boundaries = np.concatenate(([-np.inf], (piece_starts[1:] + piece_ends[:-1]) / 2, [np.inf]))
    owner = np.clip(np.searchsorted(boundaries, centres, side="right") - 1, 0, piece_starts.size - 1)
    frame_labels = labels[owner]
    speech = _bridge(speech, frame_labels, round(bridge / GRID))

    coded = np.where(speech, frame_labels + 1, 0)
    change = np.flatnonzero(np.diff(np.concatenate(([0], coded, [0]))) != 0)
    first, after = change[:-1], change[1:]
    voiced = coded[first] > 0
    first, after = first[voiced], after[voiced]
    if first.size == 0:
        return empty
    turn_labels = frame_labels[first]
    # Turn confidence: duration-weighted mean confidence of the pieces its frames belong to.
    frame_conf = confidences[owner] * speech
    sums = np.add.reduceat(frame_conf, first)
    counts = np.add.reduceat(speech.astype(np.float64), first)
    turn_conf = np.clip(sums / np.maximum(counts, 1), 0.0, 1.0)
    turn_starts = (first * GRID).astype(np.float64)
    turn_ends = np.minimum(after * GRID, duration).astype(np.float64)
    return turn_starts, turn_ends, turn_labels.astype(np.int64), turn_conf.astype(np.float64)


def _mask(starts: FloatArray, ends: FloatArray, frames: int) -> NDArray[np.bool_]:
    """Frames covered by any [start, end) interval, via a difference array (linear time)."""
    delta = np.zeros(frames + 1, dtype=np.int64)
    first = np.clip(np.floor(np.asarray(starts) / GRID + 1e-6).astype(np.int64), 0, frames)
    last = np.clip(np.ceil(np.asarray(ends) / GRID - 1e-6).astype(np.int64), 0, frames)
    keep = last > first
    np.add.at(delta, first[keep], 1)
    np.add.at(delta, last[keep], -1)
    return np.cumsum(delta[:-1]) > 0


def _span(start: float, end: float, frames: int) -> slice:
    return slice(max(0, int(start / GRID)), min(frames, int(np.ceil(end / GRID))))


def _bridge(speech: NDArray[np.bool_], labels: IntArray, max_gap: int) -> NDArray[np.bool_]:
    """Fill silent runs of at most ``max_gap`` frames between two frames of the same speaker."""
    if max_gap <= 0:
        return speech
    padded = np.concatenate(([True], speech, [True]))
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    gap_starts, gap_ends = edges[0::2], edges[1::2]
    short = (gap_ends - gap_starts <= max_gap) & (gap_starts > 0) & (gap_ends < speech.size)
    out = speech.copy()
    for start, end in zip(gap_starts[short].tolist(), gap_ends[short].tolist(), strict=True):
        if labels[start - 1] == labels[end]:
            out[start:end] = True
    return out


# --- helpers ----------------------------------------------------------------------------------


def _normalise(vectors: FloatArray) -> FloatArray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    normalised: FloatArray = vectors / np.maximum(norms, 1e-12)
    return normalised


def _count_bounds(num: int | None, low: int | None, high: int | None, pieces: int) -> tuple[int, int]:
    if num is not None:
        k = max(1, min(num, pieces))
        return k, k
    lo = max(1, low or 1)
    hi = min(high if high is not None else MAX_SPEAKERS, max(1, pieces // 2))
    hi = max(hi, min(lo, pieces))
    return min(lo, hi), hi


def _cluster_subset(durations: FloatArray, limit: int) -> IntArray:
    """All pieces, or the ``limit`` longest ones (ties broken by time) kept in time order."""
    n = durations.size
    if n <= limit:
        return np.arange(n, dtype=np.int64)
    order = np.lexsort((np.arange(n), -np.round(durations, 2)))
    return np.sort(order[:limit]).astype(np.int64)


def _centroids(points: FloatArray, weights: FloatArray, labels: IntArray, k: int) -> FloatArray:
    sums = np.zeros((k, points.shape[1]))
    np.add.at(sums, labels, points * weights[:, None])
    return _normalise(sums)


def _spherical_kmeans(points: FloatArray, weights: FloatArray, labels: IntArray, k: int) -> tuple[IntArray, float]:
    for _ in range(30):
        centroids = _centroids(points, weights, labels, k)
        updated = np.argmax(points @ centroids.T, axis=1).astype(np.int64)
        if np.array_equal(updated, labels):
            break
        labels = updated
    centroids = _centroids(points, weights, labels, k)
    objective = float(np.sum(weights * np.einsum("ij,ij->i", points, centroids[labels])))
    return labels, objective


def _max_pair_score(raw: FloatArray, labels: IntArray, weights: FloatArray, k: int) -> float:
    """Highest duration-weighted mean raw cosine between pieces of two different clusters."""
    weighted = raw * weights[:, None]
    sums = np.zeros((k, raw.shape[1]))
    np.add.at(sums, labels, weighted)
    mass = np.bincount(labels, weights=weights, minlength=k)
    # sum_{i in a, j in b} w_i w_j cos(i, j) = <sum_a w x, sum_b w x>: no all-pairs matrix needed.
    cross = sums @ sums.T
    best = -1.0
    for a in range(k):
        for b in range(a + 1, k):
            if mass[a] > 0 and mass[b] > 0:
                best = max(best, float(cross[a, b] / (mass[a] * mass[b])))
    return best


def _drop_empty(labels: IntArray, centroids: FloatArray) -> tuple[IntArray, FloatArray]:
    used = np.unique(labels)
    remap = np.full(centroids.shape[0], -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    return remap[labels], centroids[used]
