"""Word-to-speaker alignment (docs/architecture.md, "Alignment"), vectorised.

For a word ``w`` and speaker ``k`` the score is ``|w ∩ speech(k)| / |w|``:
the share of the word covered by that speaker's speech. ``speech(k)`` is the
union of ``k``'s turns, so adjacent or overlapping turns of one speaker add
up instead of competing, and a long turn is not penalised as it would be by
word-vs-turn IoU.

The cost is O(K·W·log S) for K speakers, W words and S turns: each speaker's
merged turns give a cumulative speech-time function, read at every word
boundary with one ``searchsorted``. There is no per-word loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from diarflow.domain.intervals import merge_intervals
from diarflow.domain.turns import Turns

DEFAULT_GAP_TOLERANCE = 1.0
"""Seconds: a word this close to a turn (but outside every turn) still gets its speaker."""
DEFAULT_NEAR_MISS_MARGIN = 0.15
"""Another speaker within this much confidence of the winner is listed in ``alternatives``."""
GAP_SCORE_CEILING = 0.5
"""A word in a gap scores at most this, falling linearly to 0 at the gap tolerance."""

_MAX_CELLS = 4_000_000  # words × speakers per chunk: bounds memory for many-speaker inputs


@dataclass(frozen=True, eq=False)
class Alignment:
    """Per word: speaker index (-1: none), score and confidence; alternatives as flat columns."""

    speakers: NDArray[np.int64]
    scores: NDArray[np.float64]
    confidences: NDArray[np.float64]
    """cluster confidence × score; NaN where the word has no speaker."""
    alt_words: NDArray[np.int64]
    alt_speakers: NDArray[np.int64]
    alt_confidences: NDArray[np.float64]

    @property
    def unattributed(self) -> int:
        return int((self.speakers < 0).sum())


@dataclass(frozen=True, eq=False)
class _SpeakerSpeech:
    """One speaker's merged (disjoint, sorted) turns and its cumulative speech time."""

    starts: NDArray[np.float64]
    ends: NDArray[np.float64]
    before: NDArray[np.float64]  # speech time before each merged turn starts

    def covered(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """Speech time of this speaker in [0, t]."""
        i = np.searchsorted(self.starts, t, side="right") - 1
        safe = np.maximum(i, 0)
        inside = np.clip(t - self.starts[safe], 0.0, self.ends[safe] - self.starts[safe])
        return np.where(i >= 0, self.before[safe] + inside, 0.0)

    def contains(self, t: NDArray[np.float64]) -> NDArray[np.bool_]:
        i = np.searchsorted(self.starts, t, side="right") - 1
        safe = np.maximum(i, 0)
        return (i >= 0) & (t <= self.ends[safe])

    def distance(self, start: NDArray[np.float64], end: NDArray[np.float64]) -> NDArray[np.float64]:
        """Gap between [start, end] and the nearest turn (0 when they touch or overlap)."""
        i = np.searchsorted(self.starts, end, side="right") - 1  # last turn starting at or before the word's end
        safe = np.maximum(i, 0)
        left = np.where(i >= 0, np.maximum(start - self.ends[safe], 0.0), np.inf)
        nxt = i + 1
        safe_next = np.minimum(nxt, self.starts.size - 1)
        right = np.where(nxt < self.starts.size, np.maximum(self.starts[safe_next] - end, 0.0), np.inf)
        return np.minimum(left, right)


def _merge(starts: NDArray[np.float64], ends: NDArray[np.float64]) -> _SpeakerSpeech:
    merged_starts, merged_ends = np.ascontiguousarray(merge_intervals(starts, ends).T)
    lengths = merged_ends - merged_starts
    before = np.r_[0.0, np.cumsum(lengths)[:-1]][: lengths.size]
    return _SpeakerSpeech(merged_starts, merged_ends, before)


def align_words(
    word_starts: NDArray[np.float64],
    word_ends: NDArray[np.float64],
    turns: Turns,
    speaker_confidences: NDArray[np.float64],
    *,
    gap_tolerance: float = DEFAULT_GAP_TOLERANCE,
    near_miss_margin: float = DEFAULT_NEAR_MISS_MARGIN,
    preferred_speakers: NDArray[np.int64] | None = None,
) -> Alignment:
    """Attribute each word to the speaker whose speech covers most of it.

    ``speaker_confidences[k]`` is speaker ``k``'s cluster confidence (NaN: unknown,
    treated as 1 so the word's confidence is its alignment score alone).
    ``preferred_speakers[i]``, when given, is a speaker word ``i`` already names
    (-1: none): the word goes to it wherever that speaker's speech covers it at
    all, however much another's does (a transcript's own labels, or crosstalk
    between two tracks), and the others become its alternatives.
    """
    n_words = int(word_starts.size)
    n_speakers = len(turns.speaker_names)
    if n_words == 0 or len(turns) == 0:
        return _nothing(n_words)
    speech = [_merge(turns.starts[turns.speakers == k], turns.ends[turns.speakers == k]) for k in range(n_speakers)]
    weights = np.where(np.isnan(speaker_confidences), 1.0, speaker_confidences)

    chunk = max(1, _MAX_CELLS // max(1, n_speakers))
    preferred = np.full(n_words, -1, dtype=np.int64) if preferred_speakers is None else preferred_speakers
    parts = [
        _align_chunk(
            word_starts[i : i + chunk],
            word_ends[i : i + chunk],
            preferred[i : i + chunk],
            speech,
            weights,
            gap_tolerance,
            near_miss_margin,
            i,
        )
        for i in range(0, n_words, chunk)
    ]
    return Alignment(*(np.concatenate([getattr(p, field) for p in parts]) for field in _FIELDS))


_FIELDS = ("speakers", "scores", "confidences", "alt_words", "alt_speakers", "alt_confidences")


def _align_chunk(
    starts: NDArray[np.float64],
    ends: NDArray[np.float64],
    preferred: NDArray[np.int64],
    speech: list[_SpeakerSpeech],
    weights: NDArray[np.float64],
    gap_tolerance: float,
    margin: float,
    offset: int,
) -> Alignment:
    lengths = ends - starts
    zero = lengths <= 0
    safe_lengths = np.where(zero, 1.0, lengths)
    scores = np.empty((starts.size, len(speech)))
    for k, spk in enumerate(speech):
        overlap = spk.covered(ends) - spk.covered(starts)
        scores[:, k] = np.where(zero, spk.contains(starts).astype(np.float64), overlap / safe_lengths)
    np.clip(scores, 0.0, 1.0, out=scores)

    best = np.argmax(scores, axis=1)
    rows = np.arange(starts.size)
    named = np.maximum(preferred, 0)
    best = np.where((preferred >= 0) & (scores[rows, named] > 0), named, best)
    best_score = scores[rows, best]

    gap_words = np.flatnonzero(best_score <= 0)
    if gap_words.size and gap_tolerance > 0:
        distances = np.column_stack([spk.distance(starts[gap_words], ends[gap_words]) for spk in speech])
        nearest = np.argmin(distances, axis=1)
        nearest_distance = distances[np.arange(gap_words.size), nearest]
        reachable = nearest_distance <= gap_tolerance
        gap_scores = GAP_SCORE_CEILING * (1.0 - nearest_distance / gap_tolerance)
        # A word right at a turn's edge still scores a little, never exactly 0.
        gap_scores = np.maximum(gap_scores, 1e-3)
        hit = gap_words[reachable]
        best[hit] = nearest[reachable]
        best_score[hit] = gap_scores[reachable]
        scores[hit, nearest[reachable]] = gap_scores[reachable]

    attributed = best_score > 0
    speakers = np.where(attributed, best, -1).astype(np.int64)
    confidence_matrix = scores * weights[np.newaxis, :]
    confidences = np.where(attributed, confidence_matrix[rows, best], np.nan)

    # Alternatives: other speakers with some support, within the margin of the winner.
    candidate = (confidence_matrix > 0) & (confidence_matrix >= (confidences - margin)[:, np.newaxis])
    candidate[rows, best] = False
    candidate &= attributed[:, np.newaxis]
    alt_rows, alt_cols = np.nonzero(candidate)
    return Alignment(
        speakers=speakers,
        scores=np.where(attributed, best_score, 0.0),
        confidences=confidences,
        alt_words=(alt_rows + offset).astype(np.int64),
        alt_speakers=alt_cols.astype(np.int64),
        alt_confidences=confidence_matrix[alt_rows, alt_cols],
    )


def _nothing(n_words: int) -> Alignment:
    return Alignment(
        speakers=np.full(n_words, -1, dtype=np.int64),
        scores=np.zeros(n_words),
        confidences=np.full(n_words, np.nan),
        alt_words=np.empty(0, dtype=np.int64),
        alt_speakers=np.empty(0, dtype=np.int64),
        alt_confidences=np.empty(0),
    )
