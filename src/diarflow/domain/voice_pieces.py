"""Who speaks where one voice is heard, from short pieces of the timeline rather than local speakers.

Clustering names each window's *local* speakers, and reconstruction gives a
frame the speakers of the local speakers active there. When the segmentation
puts two alike voices into one local speaker (measured on the meeting
clips' development split: 5 of 13 local speakers in dev00 are at least 90 %
one voice), every frame of that local speaker inherits one name, and no
re-assignment of the local speaker can fix it.

Here the episode's single-voice frames are cut into short **pieces** (0.5–2 s,
so few of them hold a change of speaker), each embedded on its own, and a
piece's frames take the speaker whose centroid its embedding is nearest. The
speaker count and the centroids' starting points stay the windows' (the
pieces alone count worse on the train clips: 30 s clips hold a few pieces
per person); a few k-means steps over the pieces move each centroid to its
voice's pieces. Frames where two voices are heard, and pieces whose nearest
centroid wins by less than :data:`PIECE_MARGIN`, keep what the windows say.

One exception to "the count stays the windows'": a voice whose short turns
always share a window with an alike voice can be mixed into that voice's
local speakers everywhere, so no window embedding stands for it and the
count misses it (an interviewer's 1–3 s questions). Its pieces are pure and
say so: they fit no speaker. A group of pieces that fits no centroid, holds
enough of the episode's single-voice speech and is one voice by the
clustering's own threshold becomes a speaker (:func:`new_voice_centroids`).
Pure numpy/scipy.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from diarflow.domain.frames import run_edges
from diarflow.domain.reconstruction import SpeakerFrames
from diarflow.domain.window_clustering import MAX_CLUSTERED, mean_directions, refined_centroids

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

PIECE_SECONDS = 2.0
"""Longest piece: a single-voice run is cut into equal pieces no longer than this (train: 2 s beat 1.5 and 3 s)."""
MIN_PIECE_SECONDS = 0.5
"""Shortest piece embedded (podcast-like tuning sets: 0.5 s over 1 s, 6 episodes better and 1 worse of 45; recut
1.59 -> 1.46 %, ami-train unchanged; the sample, not a tuning set, 8.9 -> 10.5 %)."""
PIECE_MARGIN = 0.1
"""Cosine margin over the next centroid a piece needs to overrule the windows (tuning sets: 0.1 over 0 and 0.2;
measured again on the six podcast-like tuning sets, 0.1 and 0.2 within 0.02 point of each other, 0.1 ahead)."""

NEW_VOICE_FIT = 0.65
"""Cosine similarity to the nearest centroid below which a piece fits no speaker (tuning sets: 0.6-0.7 alike;
0.55 misses the interviewer's voice its pieces are found for)."""
NEW_VOICE_SECONDS = 6.0
"""Fewest seconds of pieces a new voice needs (tuning sets: 4-10 s alike; 3 s splits meeting voices)."""
NEW_VOICE_SHARE = 0.02
"""Least share of the episode's piece speech a new voice needs: a 1 h two-voice episode holds a 13 s group of
stray pieces (0.4 %); the interviewer's is 7.5 % of its episode's (tuning sets: 1-5 % alike)."""


@dataclass(frozen=True, eq=False)
class VoicePieces:
    """Pieces of single-voice speech: frames [first, stop) on the episode's grid, and each one's embedding."""

    first: IntArray
    stop: IntArray
    embeddings: FloatArray

    def __len__(self) -> int:
        return int(self.first.size)

    @classmethod
    def empty(cls, dimension: int = 192) -> VoicePieces:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros((0, dimension)))

    @functools.cached_property
    def directions(self) -> FloatArray:
        """Each embedding scaled to unit length; a row of zeros where it is not :attr:`usable`.

        Computed once: every comparison with centroids reads it.
        """
        norms = np.linalg.norm(self.embeddings, axis=1, keepdims=True)
        usable = np.isfinite(self.embeddings).all(axis=1) & (norms[:, 0] > 1e-12)
        with np.errstate(invalid="ignore"):
            return np.where(usable[:, np.newaxis], self.embeddings / np.maximum(norms, 1e-12), 0.0)

    @property
    def usable(self) -> NDArray[np.bool_]:
        """Pieces with an embedding to compare: finite and not zero (silence pooled to nothing is neither)."""
        return np.asarray(self.directions.any(axis=1))

    @property
    def lengths(self) -> FloatArray:
        """Each piece's length in frames."""
        return (self.stop - self.first).astype(np.float64)


def single_voice_pieces(count: IntArray, *, max_frames: int, min_frames: int) -> tuple[IntArray, IntArray]:
    """Frames where one voice is heard (``count == 1``), each run cut into equal pieces of at most ``max_frames``.

    Pieces shorter than ``min_frames`` are left out. Returns each piece's first frame and the frame after it.
    """
    firsts, stops = run_edges(np.asarray(count) == 1)
    piece_firsts: list[int] = []
    piece_stops: list[int] = []
    for first, stop in zip(firsts.tolist(), stops.tolist(), strict=True):
        parts = -(-(stop - first) // max(1, max_frames))  # ceiling: equal pieces, none longer than max_frames
        edges = np.rint(np.linspace(first, stop, parts + 1)).astype(np.int64).tolist()
        for start, end in itertools.pairwise(edges):
            if end - start >= min_frames:
                piece_firsts.append(start)
                piece_stops.append(end)
    return np.array(piece_firsts, dtype=np.int64), np.array(piece_stops, dtype=np.int64)


def piece_centroids(pieces: VoicePieces, centroids: FloatArray) -> FloatArray:
    """``centroids`` moved to the pieces' voices: a few k-means steps over the usable pieces, weighted by length.

    The centroids come from the windows' local speakers, which may each mix two alike voices; moving them
    to the pieces' own means lets pure pieces pull each centroid to one voice. The count stays.
    """
    usable = pieces.usable
    if not usable.any() or centroids.shape[0] == 0:
        return centroids
    return refined_centroids(pieces.directions[usable], pieces.lengths[usable], centroids)


def piece_speakers(pieces: VoicePieces, centroids: FloatArray, *, margin: float = PIECE_MARGIN) -> IntArray:
    """Each piece's speaker: its nearest of ``centroids`` (moved to the pieces by :func:`piece_centroids`);
    -1 where it wins by less than ``margin``, or where the piece has no usable embedding."""
    if len(pieces) == 0 or centroids.shape[0] == 0:
        return np.full(len(pieces), -1, dtype=np.int64)
    similarity = pieces.directions @ centroids.T
    nearest = np.argmax(similarity, axis=1)
    sure = pieces.usable
    if similarity.shape[1] > 1:
        ordered = np.sort(similarity, axis=1)
        sure &= ordered[:, -1] - ordered[:, -2] >= margin
    return np.where(sure, nearest, -1).astype(np.int64)


def new_voice_centroids(
    pieces: VoicePieces,
    centroids: FloatArray,
    *,
    frame_seconds: float,
    threshold: float,
    room: int,
) -> FloatArray:
    """Centroids of voices the pieces hear and no speaker stands for: (new voices, dim), at most ``room``.

    ``centroids`` are the speakers' as :func:`piece_centroids` moved them. Pieces less similar than
    :data:`NEW_VOICE_FIT` to the nearest are clustered (average linkage, cut at the clustering's
    ``threshold``); a cluster with at least :data:`NEW_VOICE_SECONDS` and :data:`NEW_VOICE_SHARE` of all
    the pieces' seconds is a voice, the largest first. Past :data:`MAX_CLUSTERED` such pieces, an even
    spread of them over the episode is clustered and each cluster's seconds scaled up to stand for them all.
    """
    none = np.zeros((0, centroids.shape[1]))
    if room <= 0 or len(pieces) < 2 or centroids.shape[0] == 0:
        return none
    points = pieces.directions
    seconds = pieces.lengths * frame_seconds
    needed = max(NEW_VOICE_SECONDS, NEW_VOICE_SHARE * float(seconds.sum()))
    fit = (points @ centroids.T).max(axis=1)
    unfit = np.flatnonzero(pieces.usable & (fit < NEW_VOICE_FIT))
    unfit_seconds = float(seconds[unfit].sum())
    if unfit.size < 2 or unfit_seconds < needed:
        return none
    if unfit.size > MAX_CLUSTERED:  # linkage is quadratic: an even spread over the episode stands for the rest
        unfit = unfit[np.linspace(0, unfit.size - 1, MAX_CLUSTERED).round().astype(np.int64)]
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(points[unfit], method="average", metric="cosine")
    labels = np.asarray(fcluster(tree, t=threshold, criterion="distance") - 1, dtype=np.int64)
    totals = np.bincount(labels, weights=seconds[unfit]) * (unfit_seconds / float(seconds[unfit].sum()))
    voices = np.flatnonzero(totals >= needed)
    voices = voices[np.argsort(-totals[voices], kind="stable")][:room]
    return mean_directions(points[unfit], seconds[unfit], labels)[voices]


def name_single_voices(frames: SpeakerFrames, pieces: VoicePieces, speakers: IntArray) -> SpeakerFrames:
    """Frames where one voice is heard, inside a piece with a speaker, belong to that speaker alone (confidence 1).

    Frames where two voices are heard keep the windows' activity: a piece is cut from single-voice frames,
    but the count there could differ if it was estimated from other windows.
    """
    num_frames = frames.activity.shape[0]
    owner = np.full(num_frames, -1, dtype=np.int64)
    for first, stop, speaker in zip(pieces.first.tolist(), pieces.stop.tolist(), speakers.tolist(), strict=True):
        owner[max(0, first) : min(stop, num_frames)] = speaker
    named = np.flatnonzero((owner >= 0) & (frames.count == 1))
    if named.size == 0:
        return frames
    activity = frames.activity.copy()
    confidence = frames.confidence.copy()
    activity[named] = 0.0
    activity[named, owner[named]] = 1.0
    confidence[named] = 0.0
    confidence[named, owner[named]] = 1.0
    return SpeakerFrames(activity, confidence, frames.count)
