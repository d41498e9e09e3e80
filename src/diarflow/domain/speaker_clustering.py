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
3. :func:`speech_frames` lays labelled pieces on a 10 ms grid: speech is
   where the VAD *and* a word agree (plus long untranscribed speech), and a
   speaker change falls halfway between two differently labelled pieces.
4. Boundary refinement: a piece is up to 1.6 s long, so a change *inside* a
   piece, or one the transcript's word timings misplace, lands up to a second
   away from where the voice changes. Where two speakers' speech meets
   without a pause, :func:`plan_boundary_windows` asks for short windows
   around the change, the diarizer embeds them, and :func:`refine_boundaries`
   moves the change to where the windows' voice changes (or onto a pause the
   VAD heard nearby). Changes at a pause are left alone: the pause *is* the
   boundary, and windows straddling it only blur it.
   A change *inside* one of the transcriber's utterances must be confirmed by
   those windows (:func:`confirm_changes`); one they do not confirm is undone.
5. Where a refined change has no pause, people usually talk over each other
   for a moment: :func:`overlap_frames` gives both speakers a short stretch
   either side of it, so the raw diarization may overlap there (its
   ``exclusive`` variant, which words are aligned to, does not).
6. :func:`frames_to_turns` bridges short same-speaker pauses and emits turns.

Long episodes: clustering runs on at most ``max_cluster_pieces`` pieces (the
longest, spread over the episode) and every other piece is assigned to the
resulting centroids, so memory and time stay linear in the episode's length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from diarflow.domain.frames import interval_mask, run_edges

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

MAX_PIECE = 1.6
"""Longest piece, in seconds: one GE2E window, so raw scores keep the scale the encoder was trained on."""
SPLIT_GAP = 0.2
"""A pause this long (seconds) between words starts a new piece."""
RELIABLE_PIECE = 0.8
"""Pieces shorter than this (seconds) do not vote on the speaker count: their embeddings are mostly content."""
NEW_SPEAKER_SCORE = 0.67
"""Two clusters are two speakers when their pieces' mean raw cosine is below this (see estimate_speaker_count).

Measured on the sample's two telephone voices (the hard case: two women, one line): two-speaker
re-cut episodes score 0.63-0.65, and 0.64-0.66 when turn changes overlap; one voice split in two
scores 0.69-0.73. 0.65 sat on the two-speaker edge (half the overlapped episodes came out as one
speaker); 0.67 is near the middle of the gap.
"""
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
SWITCH_PENALTY_IN_UTTERANCE = 12.0
"""A change inside one of the transcriber's utterances needs clear evidence (it splits where it hears a new voice).

Measured (collar 0, with boundary refinement) against 6.0: re-cut seeds 1-14 mean DER 2.5 % -> 1.9 %
(worst 8.0 % -> 4.5 %), the 1 h build 1.56 % -> 1.60 %, overlapped re-cuts 21-26 better too.
18 would keep the sample's piece that only ends in the other voice (26.99-28.43 s) whole and
take the sample to 11.1 %, but costs the 1 h build 0.3 points and the overlapped re-cuts 0.8:
it trusts utterances more than this transcript generator deserves (it misses 30 % of changes).
"""
SCORE_SCALE = 20.0
"""Centred cosine to log-likelihood scale used by the Viterbi pass and the confidences."""
CONFIDENCE_SCALE = 5.0
"""Softmax temperature for confidences: a piece 0.2 closer to its own centroid than to the next gets ~0.73."""
GRID = 0.01
"""Resolution of the speech grid in seconds."""
REFINE_MAX_GAP = 0.1
"""Only changes with less than this much silence (seconds) between the two speakers' speech are refined."""
REFINE_RADIUS = 1.0
"""How far (seconds) refinement may move a change: about the longest a piece can misplace it."""
REFINE_WINDOW = 1.0
"""Length (seconds) of the windows scored around a change: shorter ones follow the words, not the voice."""
REFINE_STEP = 0.1
"""Spacing (seconds) of those windows, and so the resolution of a refined change."""
REFINE_SNAP = 0.3
"""A refined change this close (seconds) to a pause the VAD heard moves onto the pause."""
CONFIRM_MARGIN = 0.08
"""Mean margin the windows past a change inside an utterance must reach for the change to stand (see confirm_changes).

Measured on the refinement windows of the sample and re-cut episodes (1-14, overlapped 21-26): real
changes inside utterances score 0.14-0.8 past the change; the sample's one false change (26.99 s, a
piece whose last 0.6 s hold both voices) 0.02.
"""
OVERLAP_WIDTH = 0.15
"""At a refined change with no pause, both speakers are given this long (seconds) either side of it.

People talk over each other when the floor changes hands without a pause, and the windows cannot
place such a change closer than ~0.1-0.2 s anyway. Measured (collar 0) on re-cut episodes whose
changes overlap by 0.15-0.6 s half the time (seeds 21-26): mean DER 6.1 % -> 5.6 % (0.15 was the
best of 0.1-0.4 there); re-cut episodes without overlap +0.02 points on average; sample +0.1.
"""


@dataclass(frozen=True)
class Clustering:
    """Piece labels ``0..num_speakers-1`` with a confidence each, and how the count was chosen."""

    labels: IntArray
    confidences: FloatArray
    num_speakers: int
    count_scores: dict[int, float]
    """For each candidate count >= 2: the highest mean raw cosine between two of its clusters."""
    centroids: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    """(num_speakers, dim) unit centroids in the centred space (empty for one speaker)."""
    centre: FloatArray = field(default_factory=lambda: np.zeros(0))
    """The episode's mean raw embedding, subtracted before comparing with ``centroids``."""
    probabilities: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    """(pieces, num_speakers) softmax weight of each centroid for each piece (confidences of any label)."""

    def window_scores(self, raw: NDArray[np.floating]) -> FloatArray:
        """Cosine of raw embeddings (e.g. of refinement windows) with each centroid, in the centred space."""
        if self.centroids.size == 0:
            return np.zeros((len(raw), max(self.num_speakers, 1)))
        centred = _normalise(_normalise(np.asarray(raw, dtype=np.float64)) - self.centre)
        scores: FloatArray = centred @ self.centroids.T
        return scores


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
    centre = np.average(raw, axis=0, weights=weights)
    centred = _normalise(raw - centre)

    # Only pieces long enough to carry a voice decide the count and the centroids; short ones follow.
    reliable = np.flatnonzero(durations >= RELIABLE_PIECE)
    if reliable.size < 4:
        reliable = np.arange(n, dtype=np.int64)
    subset = reliable[_cluster_subset(durations[reliable], max_cluster_pieces)]
    low, high = _count_bounds(num_speakers, min_speakers, max_speakers, subset.size)
    count, scores, partitions = estimate_speaker_count(raw[subset], centred[subset], weights[subset], low, high)
    if count == 1:
        return Clustering(np.zeros(n, np.int64), np.ones(n), 1, scores, probabilities=np.ones((n, 1)))

    centroids = _centroids(centred[subset], weights[subset], partitions[count], count)
    labels = np.argmax(centred @ centroids.T, axis=1)
    gaps = np.concatenate(([np.inf], starts[1:] - ends[:-1]))
    penalties = np.where(gaps < 0.5, SWITCH_PENALTY, SWITCH_PENALTY_PAUSE)
    if utterance_starts is not None and utterance_starts.size:
        utterance = _utterance_of(utterance_starts, starts, ends)
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
    return _clustering_of(centred, weights, labels, centroids.shape[0], scores, centre)


def relabel(
    clustering: Clustering, embeddings: NDArray[np.floating], starts: FloatArray, ends: FloatArray, labels: IntArray
) -> Clustering:
    """``clustering`` with new piece labels, and its centroids and probabilities recomputed from them."""
    raw = _normalise(np.asarray(embeddings, dtype=np.float64))
    weights = np.minimum(np.maximum(ends - starts, 1e-3), MAX_PIECE)
    centred = _normalise(raw - clustering.centre)
    return _clustering_of(centred, weights, labels, clustering.num_speakers, clustering.count_scores, clustering.centre)


def _clustering_of(
    centred: FloatArray, weights: FloatArray, labels: IntArray, k: int, scores: dict[int, float], centre: FloatArray
) -> Clustering:
    """The clustering that ``labels`` define: centroids of those labels and each piece's probabilities."""
    centroids = _centroids(centred, weights, labels, k)
    probabilities = piece_probabilities(centred, centroids)
    return Clustering(
        labels=labels,
        confidences=probabilities[np.arange(labels.size), labels],
        num_speakers=int(k),
        count_scores=scores,
        centroids=centroids,
        centre=centre,
        probabilities=probabilities,
    )


def _utterance_of(utterance_starts: FloatArray, starts: FloatArray, ends: FloatArray) -> IntArray:
    """For each piece, the number of utterances started by its middle (equal numbers: the same utterance)."""
    return np.searchsorted(np.sort(utterance_starts), (starts + ends) / 2, side="right").astype(np.int64)


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
    return piece_probabilities(centred, centroids)[np.arange(len(labels)), labels]


def piece_probabilities(centred: FloatArray, centroids: FloatArray) -> FloatArray:
    """(pieces, clusters) softmax weights of the centroids for each piece, rows summing to 1."""
    if centroids.shape[0] <= 1:
        return np.ones((len(centred), max(centroids.shape[0], 1)))
    logits = CONFIDENCE_SCALE * (centred @ centroids.T)
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    clipped: FloatArray = np.clip(probabilities, 0.0, 1.0)
    return clipped


# --- turns ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeechFrames:
    """Labelled pieces on the 10 ms grid: which frames are speech, and the piece each frame belongs to."""

    speech: NDArray[np.bool_]
    owner: IntArray
    """Index of the piece each frame takes its label from (the nearer piece between two)."""
    duration: float

    @property
    def frames(self) -> int:
        return int(self.speech.size)


@dataclass(frozen=True)
class BoundaryWindows:
    """Speaker changes to refine and the windows to embed for them (see :func:`plan_boundary_windows`)."""

    region_starts: FloatArray
    region_ends: FloatArray
    before: IntArray
    """Speaker before each change."""
    after: IntArray
    """Speaker after each change."""
    centres: FloatArray
    """Window centres (seconds), region by region, in time order."""
    region_of: IntArray
    """Which region each window belongs to."""
    window: float
    step: float
    times: FloatArray = field(default_factory=lambda: np.zeros(0))
    """Where each change was before refinement (seconds): halfway between the two speakers' speech."""

    @property
    def window_starts(self) -> FloatArray:
        starts: FloatArray = np.maximum(self.centres - self.window / 2, 0.0)
        return starts

    def __len__(self) -> int:
        return int(self.region_starts.size)


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
    """Turns (starts, ends, labels, confidences) without boundary refinement.

    :func:`speech_frames` then :func:`frames_to_turns`; ``confidences`` is each piece's
    confidence in its own label.
    """
    empty = (np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
    if piece_starts.size == 0 or duration <= 0:
        return empty
    frames = speech_frames(
        piece_starts,
        piece_ends,
        vad_speech,
        word_starts,
        word_ends,
        duration,
        word_pad=word_pad,
        untranscribed_min=untranscribed_min,
    )
    # Each piece's confidence in its own label; frames here always carry their piece's label.
    probabilities = np.zeros((piece_starts.size, int(labels.max()) + 1))
    probabilities[np.arange(piece_starts.size), labels] = confidences
    return frames_to_turns(frames, labels[frames.owner], probabilities, bridge=bridge)


def speech_frames(
    piece_starts: FloatArray,
    piece_ends: FloatArray,
    vad_speech: FloatArray,
    word_starts: FloatArray,
    word_ends: FloatArray,
    duration: float,
    *,
    word_pad: float = 0.0,
    untranscribed_min: float = 1.0,
) -> SpeechFrames:
    """Which 10 ms frames are speech, and which piece labels each.

    Speech is where the VAD hears speech and a word is being said (Deepgram's
    word timings are tighter than the VAD, which bridges short pauses), plus
    untranscribed VAD regions of at least ``untranscribed_min`` seconds. Each
    frame belongs to the piece it falls in, or, between pieces, to the nearer
    one (a change lands halfway between two pieces).
    """
    frames = max(int(np.ceil(duration / GRID)), 0)
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
    owner = np.clip(np.searchsorted(boundaries, centres, side="right") - 1, 0, max(piece_starts.size - 1, 0))
    return SpeechFrames(speech=speech, owner=owner.astype(np.int64), duration=duration)


def plan_boundary_windows(
    frames: SpeechFrames,
    frame_labels: IntArray,
    *,
    max_gap: float = REFINE_MAX_GAP,
    radius: float = REFINE_RADIUS,
    window: float = REFINE_WINDOW,
    step: float = REFINE_STEP,
) -> BoundaryWindows:
    """The speaker changes worth refining, each with a search region and its windows.

    A change is two consecutive speech frames of different speakers; it is refined
    when less than ``max_gap`` of silence separates them. Its region reaches
    ``radius`` either side, but never past halfway to the neighbouring changes, so
    regions do not overlap and hold only the two speakers of their change.
    """
    speech_index = np.flatnonzero(frames.speech)
    labels = frame_labels[speech_index]
    change = np.flatnonzero(labels[1:] != labels[:-1])
    empty_f, empty_i = np.zeros(0), np.zeros(0, np.int64)
    if change.size == 0:
        return BoundaryWindows(empty_f, empty_f, empty_i, empty_i, empty_f, empty_i, window, step, empty_f)
    last, first = speech_index[change], speech_index[change + 1]
    times = (last + first + 1) / 2 * GRID
    gaps = (first - last - 1) * GRID
    lows = np.maximum(times - radius, np.concatenate(([-np.inf], (times[:-1] + times[1:]) / 2)))
    highs = np.minimum(times + radius, np.concatenate(((times[:-1] + times[1:]) / 2, [np.inf])))
    # Rounded to the grid so a region's frames and its windows line up exactly.
    lows = np.round(np.maximum(lows, 0.0), 2).astype(np.float64)
    highs = np.round(np.minimum(highs, frames.duration), 2).astype(np.float64)
    keep = (gaps < max_gap) & (highs - lows >= 2 * step)
    region_starts, region_ends = lows[keep], highs[keep]
    counts = np.floor((region_ends - region_starts) / step + 1e-9).astype(np.int64)
    region_of = np.repeat(np.arange(region_starts.size), counts)
    offsets = np.arange(region_of.size) - np.repeat(np.cumsum(counts) - counts, counts)
    centres = region_starts[region_of] + (offsets + 0.5) * step
    return BoundaryWindows(
        region_starts=region_starts,
        region_ends=region_ends,
        before=labels[change[keep]].astype(np.int64),
        after=labels[change[keep] + 1].astype(np.int64),
        centres=centres,
        region_of=region_of.astype(np.int64),
        window=window,
        step=step,
        times=times[keep],
    )


@dataclass(frozen=True)
class RefinedChanges:
    """Where :func:`refine_boundaries` put each planned change."""

    times: FloatArray
    before: IntArray
    after: IntArray
    at_pause: NDArray[np.bool_]
    """The change moved onto a pause the VAD heard (so nobody talks over anybody there)."""
    region_starts: FloatArray
    region_ends: FloatArray


def refine_boundaries(
    frame_labels: IntArray,
    plan: BoundaryWindows,
    window_scores: FloatArray,
    vad_speech: FloatArray,
    *,
    snap: float = REFINE_SNAP,
) -> tuple[IntArray, RefinedChanges]:
    """Move each planned change to where its windows' voice changes; returns new frame labels.

    ``window_scores``: (windows, speakers) centred cosine of each window with each
    centroid (:meth:`Clustering.window_scores`). In a region, with ``d`` the margin
    of the speaker after over the speaker before, the change goes where
    ``sum(-d before) + sum(d after)`` peaks: the split that agrees best with the
    windows (a least-squares change point that ignores how loud or long each side
    is). A change that lands within ``snap`` seconds of a pause the VAD heard
    moves onto the pause: silence is the surest boundary there is.
    """
    refined = frame_labels.copy()
    count = len(plan)
    times, at_pause = np.zeros(count), np.zeros(count, dtype=bool)
    pause_mids = (vad_speech[:-1, 1] + vad_speech[1:, 0]) / 2 if len(vad_speech) > 1 else np.zeros(0)
    rows = np.arange(plan.region_of.size)
    margins = window_scores[rows, plan.after[plan.region_of]] - window_scores[rows, plan.before[plan.region_of]]
    bounds = np.concatenate(([0], np.cumsum(np.bincount(plan.region_of, minlength=count))))
    for region in range(count):
        d = margins[bounds[region] : bounds[region + 1]]
        lo, hi = float(plan.region_starts[region]), float(plan.region_ends[region])
        cumulative = np.concatenate(([0.0], np.cumsum(d)))
        agreement = (cumulative[-1] - cumulative) - cumulative
        change = lo + int(np.argmax(agreement)) * plan.step  # first maximum: deterministic on ties
        if pause_mids.size:
            at = int(np.searchsorted(pause_mids, change))
            nearby = pause_mids[max(at - 1, 0) : at + 1]
            nearest = float(nearby[int(np.argmin(np.abs(nearby - change)))])
            if abs(nearest - change) <= snap and lo <= nearest <= hi:
                change, at_pause[region] = nearest, True
        first, split, stop = (round(t / GRID) for t in (lo, change, hi))
        refined[first:split] = plan.before[region]
        refined[split:stop] = plan.after[region]
        times[region] = change
    changes = RefinedChanges(times, plan.before, plan.after, at_pause, plan.region_starts, plan.region_ends)
    return refined, changes


def confirm_changes(
    labels: IntArray,
    piece_starts: FloatArray,
    piece_ends: FloatArray,
    utterance_starts: FloatArray,
    plan: BoundaryWindows,
    window_scores: FloatArray,
    changes: RefinedChanges,
    *,
    min_margin: float = CONFIRM_MARGIN,
    min_windows: int = 2,
) -> IntArray | None:
    """Piece labels without the changes inside an utterance that the windows do not confirm (None if all hold).

    A change inside one of the transcriber's utterances came from the pieces alone. A real one
    shows in the refinement windows: past the refined change they lean clearly to the new
    speaker. Where they do not (their mean margin stays under ``min_margin``), the pieces that
    took the new speaker up to the end of that utterance go back to the speaker before: such a
    piece's embedding is more often pulled by a moment of the other voice (or an odd stretch of
    its own) than the whole of it is the other speaker.
    """
    if len(plan) == 0 or not utterance_starts.size:
        return None
    rows = np.arange(plan.region_of.size)
    margins = window_scores[rows, plan.after[plan.region_of]] - window_scores[rows, plan.before[plan.region_of]]
    utterance = _utterance_of(utterance_starts, piece_starts, piece_ends)
    updated = labels.copy()
    changed = False
    for region in np.flatnonzero(~changes.at_pause).tolist():
        mine = plan.region_of == region
        after = margins[mine][plan.centres[mine] > changes.times[region]]
        if after.size < min_windows or float(after.mean()) >= min_margin:
            continue
        first = int(np.searchsorted(piece_starts, plan.times[region]))  # the first piece after the change
        if first == 0 or first >= labels.size or utterance[first] != utterance[first - 1]:
            continue
        before, new = int(plan.before[region]), int(plan.after[region])
        if labels[first - 1] != before or labels[first] != new:
            continue
        stop = first
        while stop < labels.size and labels[stop] == new and utterance[stop] == utterance[first]:
            stop += 1
        updated[first:stop] = before
        changed = True
    return updated if changed else None


def overlap_frames(changes: RefinedChanges, *, width: float = OVERLAP_WIDTH) -> tuple[IntArray, IntArray, IntArray]:
    """Frames (first, stop, speaker) where a second speaker is added around changes without a pause.

    The speaker after a change also speaks ``width`` before it, and the speaker before
    it ``width`` after it (never past the change's refinement region); see ``OVERLAP_WIDTH``.
    """
    keep = ~changes.at_pause
    if width <= 0 or not keep.any():
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    times = changes.times[keep]
    lead_in = np.maximum(times - width, changes.region_starts[keep])
    lead_out = np.minimum(times + width, changes.region_ends[keep])
    centre = np.round(times / GRID).astype(np.int64)
    first = np.concatenate((np.round(lead_in / GRID).astype(np.int64), centre))
    stop = np.concatenate((centre, np.round(lead_out / GRID).astype(np.int64)))
    speakers = np.concatenate((changes.after[keep], changes.before[keep])).astype(np.int64)
    return first, stop, speakers


def frames_to_turns(
    frames: SpeechFrames,
    frame_labels: IntArray,
    probabilities: FloatArray,
    *,
    extra: tuple[IntArray, IntArray, IntArray] | None = None,
    bridge: float = 0.3,
) -> tuple[FloatArray, FloatArray, IntArray, FloatArray]:
    """Turns (starts, ends, labels, confidences) from labelled speech frames, sorted by start.

    Pauses shorter than ``bridge`` inside one speaker's speech are filled (as
    annotators do). ``extra``: (first, stop, speaker) frame ranges where a second
    speaker also talks (:func:`overlap_frames`), on speech frames only; turns of
    different speakers may then overlap. A turn's confidence is the mean, over its
    frames, of the speaker's probability for the piece each frame belongs to
    (``probabilities``: pieces x speakers).
    """
    empty = (np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
    if frames.frames == 0 or probabilities.size == 0:
        return empty
    speech = _bridge(frames.speech, frame_labels, round(bridge / GRID))
    starts: list[IntArray] = []
    stops: list[IntArray] = []
    speakers: list[IntArray] = []
    confidences: list[FloatArray] = []
    for speaker in range(probabilities.shape[1]):
        active = speech & (frame_labels == speaker)
        if extra is not None:
            mask = extra[2] == speaker
            added = _mask(extra[0][mask] * GRID, extra[1][mask] * GRID, frames.frames)
            active |= added & frames.speech
        first, after = run_edges(active)
        if first.size == 0:
            continue
        frame_conf = probabilities[frames.owner, speaker] * active
        sums = np.add.reduceat(frame_conf, first)
        starts.append(first)
        stops.append(after)
        speakers.append(np.full(first.size, speaker, dtype=np.int64))
        confidences.append(np.clip(sums / np.maximum(after - first, 1), 0.0, 1.0))
    if not starts:
        return empty
    first_all, after_all = np.concatenate(starts), np.concatenate(stops)
    order = np.lexsort((after_all, first_all))
    turn_starts = (first_all[order] * GRID).astype(np.float64)
    turn_ends = np.minimum(after_all[order] * GRID, frames.duration).astype(np.float64)
    return turn_starts, turn_ends, np.concatenate(speakers)[order], np.concatenate(confidences)[order]


def _mask(starts: FloatArray, ends: FloatArray, frames: int) -> NDArray[np.bool_]:
    """Frames of the :data:`GRID` covered by any [start, end) interval (linear time)."""
    return interval_mask(starts, ends, frames, GRID, tolerance=1e-6)


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
