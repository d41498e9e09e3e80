"""Cluster-level speaker identification: who, among a podcast's voiceprints, each cluster is.

Pure functions on arrays (no I/O): the stage computes one embedding per
cluster and per voiceprint, or takes pyannoteAI's scores, and this module
decides.

Why a margin and a joint assignment rather than a raw threshold: a score
alone does not say whether another enrolled person, or another cluster of
the episode, fits about as well (with GE2E embeddings, same speaker ~0.88 and
other speaker ~0.82 on the shipped sample; CAM++ separates people far better,
but a short enrolment still leaves overlapping score ranges, see
``docs/identification.md``). A decision must instead beat every other
explanation of the cluster by ``margin``:

* the cluster being another enrolled person,
* another cluster of the episode being that person, and
* nobody enrolled (worth exactly ``threshold``).

All three are captured by one quantity, the *joint margin* of a pair (c, r):
how much the best exclusive assignment's total gain ``Σ (score - threshold)``
drops when c may not be r. It is at most ``score - threshold`` (leaving c
unnamed is always an alternative) and it shrinks when another cluster wants r
about as much, so a cluster that is merely "less unlike" a voiceprint than
its neighbour does not get its name. Confidence is a logistic function of the
joint margin: 0.5 exactly at the acceptance boundary, ~0.88 at twice the margin.

Diarizers split one voice into two clusters now and then, and then both fit the
person; the exclusive assignment names one and leaves the other unnamed. So a
cluster left out *only* because another cluster took its person is named that
person too when it clearly fits: it scores at least ``threshold + split_voice_gap``
and beats every other person, and nobody, by the margin (on the meeting clips this
names both halves of over-split speakers without adding a false accept:
docs/identification.md).

A voiceprint enrolled from little speech is a noisier reference, so it may be
held to a higher threshold (``enrolment_thresholds``), and every comparison
above is made on the *gain*, a pair's score minus its own voiceprint's
threshold. The calibration benchmark chooses that threshold; on the current
calibration clips 3 s enrolments let no stranger through at the plain
threshold, so by default it is the plain one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from diarflow.domain.turns import Turns

DEFAULT_MATCH_THRESHOLD = 0.50
"""CAM++ cosine below which a voiceprint is no candidate (calibrated on meeting speech: docs/identification.md)."""
DEFAULT_MATCH_MARGIN = 0.04
"""How far a decision must beat the next explanation (another person, another cluster, nobody)."""
DEFAULT_PYANNOTE_MATCH_THRESHOLD = 0.50
"""pyannoteAI identification confidence (0-100 scaled to [0, 1]) a candidate needs."""
DEFAULT_SPLIT_VOICE_GAP = 0.075
"""How far above the threshold a second cluster of one person must score to be named too (calibrated with
the threshold: docs/identification.md)."""
SHORT_ENROLMENT_SECONDS = 6.0
"""Voiceprints enrolled from less speech than this (as the voice-activity detector hears it, which ``enroll``
records) are *short*: less than every 10 s enrolment of the calibration clips held (6.3-9.2 s heard), 10 s being
the length the naming target is measured from. They name fewer of their speaker's clusters, and are held to
``DEFAULT_SHORT_ENROLMENT_THRESHOLD`` (docs/identification.md)."""
DEFAULT_SHORT_ENROLMENT_THRESHOLD = 0.50
"""CAM++ cosine a short voiceprint needs: the lowest, from the threshold up, at which no cluster source has more
than 1 % false accepts from 3 s and 5 s enrolments on the calibration clips, counted or predicted from the impostor
scores. The plain threshold: strangers score no higher against short voiceprints (docs/identification.md)."""
MAX_REPRESENTATIVE_SECONDS = 30.0
"""Audio per cluster used for its embedding (pyannoteAI voiceprints take at most 30 s too)."""

Outcome = Literal["matched", "split_voice", "ambiguous", "taken", "below_threshold", "no_voiceprints"]
"""``split_voice``: named a person another cluster was named too (the diarizer split one voice)."""
_FORBIDDEN = -1e9


@dataclass(frozen=True, slots=True)
class ClusterDecision:
    """What was decided for one cluster (row of the score matrix)."""

    cluster: int
    reference: int | None
    """Column of the matched voiceprint; None when the cluster stays unnamed."""
    score: float | None
    """Similarity of the match (or of the best candidate that was turned down)."""
    margin: float | None
    """Joint margin of the match (or of the turned-down best candidate)."""
    confidence: float | None
    """In [0, 1], from the joint margin; None when the cluster stays unnamed."""
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Candidate:
    """A (cluster, voiceprint) pair that came close: kept for the audit's ``nearMisses``."""

    cluster: int
    reference: int
    score: float
    threshold: float
    """The threshold this pair was held to (higher for a short enrolment)."""


@dataclass(frozen=True, slots=True)
class Identification:
    decisions: list[ClusterDecision]
    near_misses: list[Candidate]


def cosine_scores(clusters: NDArray[np.floating], references: NDArray[np.floating]) -> NDArray[np.float64]:
    """(C, R) cosine similarities between cluster and voiceprint embeddings (rows need not be unit length)."""
    a = np.asarray(clusters, dtype=np.float64)
    b = np.asarray(references, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or (a.size and b.size and a.shape[1] != b.shape[1]):
        raise ValueError(f"embeddings must be 2-D with the same width, got {a.shape} and {b.shape}")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    scores: NDArray[np.float64] = a @ b.T
    return scores


def short_enrolment_bar(threshold: float, short_threshold: float) -> float:
    """What a voiceprint of under ``SHORT_ENROLMENT_SECONDS`` of speech needs: never less than ``threshold``."""
    return max(threshold, short_threshold)


def enrolment_thresholds(
    speech_seconds: Sequence[float | None],
    *,
    threshold: float = DEFAULT_MATCH_THRESHOLD,
    short_threshold: float = DEFAULT_SHORT_ENROLMENT_THRESHOLD,
) -> NDArray[np.float64]:
    """The threshold each voiceprint is held to, from the speech it was enrolled from.

    Under ``SHORT_ENROLMENT_SECONDS`` of speech: ``short_threshold`` (never below ``threshold``);
    otherwise, or when the speech was not recorded (older entries), ``threshold``.
    """
    short = short_enrolment_bar(threshold, short_threshold)
    is_short = [seconds is not None and seconds < SHORT_ENROLMENT_SECONDS for seconds in speech_seconds]
    return np.where(np.array(is_short, dtype=bool), short, threshold).astype(np.float64)


def best_by_group(
    scores: NDArray[np.floating], groups: list[str]
) -> tuple[NDArray[np.float64], list[str], NDArray[np.int64]]:
    """Collapse columns that belong to one person (several enrolments) into that person's best score.

    Returns the (C, P) matrix, the person keys in first-seen order and, per (cluster, person),
    the column that gave the best score (so the audit can name the voiceprint that matched).
    """
    matrix = np.asarray(scores, dtype=np.float64)
    names = list(dict.fromkeys(groups))
    out = np.full((matrix.shape[0], len(names)), -np.inf)
    which = np.zeros((matrix.shape[0], len(names)), dtype=np.int64)
    for column, group in enumerate(groups):
        person = names.index(group)
        better = matrix[:, column] > out[:, person]
        out[better, person] = matrix[better, column]
        which[better, person] = column
    return out, names, which


def identify_clusters(
    scores: NDArray[np.floating],
    *,
    threshold: float | NDArray[np.floating] = DEFAULT_MATCH_THRESHOLD,
    margin: float = DEFAULT_MATCH_MARGIN,
    split_voice_gap: float | None = DEFAULT_SPLIT_VOICE_GAP,
) -> Identification:
    """Decide each cluster's voiceprint from a (clusters x voiceprints) similarity matrix.

    A cluster is named when its pair is in the best exclusive assignment (a person to one
    cluster at most) and its joint margin is at least ``margin``; then a cluster turned
    down only because another cluster wanted its person is named that person too when it
    scores ``threshold + split_voice_gap`` and leads every other person, and nobody, by
    ``margin`` (see the module docstring). ``split_voice_gap=None``: strictly exclusive.
    ``threshold``: one for every pair, one per voiceprint (a row), or one per pair (a matrix).
    """
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"scores must be a (clusters, voiceprints) matrix, got shape {matrix.shape}")
    if not np.all(np.isfinite(matrix) | np.isneginf(matrix)):
        raise ValueError("scores must be finite (or -inf for a pair that cannot match)")
    if margin <= 0:
        raise ValueError(f"margin must be positive, got {margin}")
    n_clusters, n_refs = matrix.shape
    if n_refs == 0:
        empty = [ClusterDecision(c, None, None, None, None, "no_voiceprints") for c in range(n_clusters)]
        return Identification(empty, [])

    try:
        bars = np.broadcast_to(np.asarray(threshold, dtype=np.float64), matrix.shape)
    except ValueError:
        shape = np.shape(threshold)
        raise ValueError(f"threshold must be one number, one per voiceprint or one per pair, got {shape}") from None
    gains = matrix - bars
    total, pairs = _best_assignment(gains)
    assigned = dict(pairs)
    decisions = []
    for c in range(n_clusters):
        row = matrix[c]
        if c in assigned:
            r = assigned[c]
            forbidden = gains.copy()
            forbidden[c, r] = -np.inf
            joint = total - _best_assignment(forbidden)[0]
            if joint >= margin - 1e-12:
                decisions.append(ClusterDecision(c, r, float(row[r]), joint, _confidence(joint, margin), "matched"))
            else:
                decisions.append(ClusterDecision(c, None, float(row[r]), joint, None, "ambiguous"))
            continue
        best = int(np.argmax(gains[c]))
        # Above the threshold yet unassigned: the best assignment gave that person to another cluster.
        outcome: Outcome = "taken" if gains[c, best] >= 0 else "below_threshold"
        score = float(row[best]) if np.isfinite(row[best]) else None
        decisions.append(ClusterDecision(c, None, score, None, None, outcome))
    if split_voice_gap is not None:
        decisions = [_split_voice(matrix, gains, d, margin, split_voice_gap) for d in decisions]
    return Identification(decisions, _near_misses(matrix, bars, decisions, margin))


def _split_voice(
    matrix: NDArray[np.float64], gains: NDArray[np.float64], decision: ClusterDecision, margin: float, gap: float
) -> ClusterDecision:
    """A cluster turned down because another cluster wanted its person, named that person if it clearly fits."""
    if decision.outcome not in ("taken", "ambiguous"):
        return decision
    row = gains[decision.cluster]
    best = int(np.argmax(row))
    others = np.delete(row, best)
    lead = float(row[best] - max(float(others.max()) if others.size else -np.inf, 0.0))
    if row[best] < gap or lead < margin - 1e-12:
        return decision  # another person fits about as well: a real ambiguity, not a split voice
    score = float(matrix[decision.cluster, best])
    return ClusterDecision(decision.cluster, best, score, lead, _confidence(lead, margin), "split_voice")


def _best_assignment(gains: NDArray[np.float64]) -> tuple[float, list[tuple[int, int]]]:
    """Maximum total gain over exclusive (cluster, voiceprint) pairs with positive gain.

    Every cluster may also stay unnamed (gain 0): one dummy column per cluster, so
    a pair is made only when it adds to the total.
    """
    from scipy.optimize import linear_sum_assignment  # imported here: `import diarflow` stays light

    n_clusters, n_refs = gains.shape
    eligible = np.where(gains >= 0, gains, _FORBIDDEN)
    dummy = np.full((n_clusters, n_clusters), _FORBIDDEN)
    np.fill_diagonal(dummy, 0.0)
    rows, cols = linear_sum_assignment(np.hstack((eligible, dummy)), maximize=True)
    pairs = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if c < n_refs and eligible[r, c] > _FORBIDDEN]
    total = float(sum(gains[r, c] for r, c in pairs))
    return total, pairs


def _confidence(joint_margin: float, margin: float) -> float:
    """0.5 at the acceptance boundary (joint margin == margin), rising to 1 as the margin grows."""
    scale = margin / 2
    return 1.0 / (1.0 + math.exp(-(joint_margin - margin) / scale))


def _near_misses(
    matrix: NDArray[np.float64], bars: NDArray[np.float64], decisions: list[ClusterDecision], margin: float
) -> list[Candidate]:
    """Candidates within ``margin`` of their threshold or of the winner, or turned down as ambiguous."""
    gains = matrix - bars
    out = []
    for decision in decisions:
        c = decision.cluster
        winner = gains[c, decision.reference] if decision.reference is not None else None
        for r in np.argsort(-gains[c], kind="stable").tolist():
            gain = float(gains[c, r])
            if r == decision.reference or not np.isfinite(gain):
                continue
            close_to_threshold = abs(gain) <= margin
            close_to_winner = winner is not None and winner - gain <= margin
            turned_down = decision.outcome in ("ambiguous", "taken") and gain >= 0
            if close_to_threshold or close_to_winner or turned_down:
                out.append(Candidate(c, int(r), float(matrix[c, r]), float(bars[c, r])))
    return out


def representative_segments(
    starts: NDArray[np.floating],
    ends: NDArray[np.floating],
    confidences: NDArray[np.floating],
    *,
    max_seconds: float = MAX_REPRESENTATIVE_SECONDS,
    min_seconds: float = 0.4,
    trim: float = 0.05,
) -> NDArray[np.float64]:
    """A cluster's best turns for its embedding: most confident first, then longest, up to ``max_seconds``.

    ``trim`` seconds are cut from each end (turn edges are where the previous speaker
    bleeds in); turns shorter than ``min_seconds`` after trimming are skipped unless
    nothing else exists. The last turn taken is cut so the total is at most
    ``max_seconds``. Returns (n, 2) [start, end] rows in time order.
    """
    s = np.asarray(starts, dtype=np.float64) + trim
    e = np.asarray(ends, dtype=np.float64) - trim
    lengths = e - s
    usable = lengths >= min_seconds
    if not usable.any():  # only short turns: take them untrimmed rather than nothing
        s, e = np.asarray(starts, dtype=np.float64), np.asarray(ends, dtype=np.float64)
        lengths = e - s
        usable = lengths > 0
    conf = np.nan_to_num(np.asarray(confidences, dtype=np.float64), nan=-1.0)
    # Confidence in steps of 0.05 first (tiny differences should not beat much longer turns), then length.
    order = np.lexsort((-lengths, -np.floor(conf * 20)))
    chosen: list[tuple[float, float]] = []
    total = 0.0
    for index in order.tolist():
        if not usable[index] or total >= max_seconds - 1e-9:
            continue
        take = min(float(lengths[index]), max_seconds - total)
        chosen.append((float(s[index]), float(s[index]) + take))
        total += take
    chosen.sort()
    return np.array(chosen, dtype=np.float64).reshape(-1, 2)


def speaker_segments(turns: Turns, speaker: str) -> NDArray[np.float64]:
    """A speaker's :func:`representative_segments` among ``turns`` (none when it has no turn there)."""
    if speaker not in turns.speaker_names:  # no exclusive turn of this speaker: nothing clean to hear
        return np.zeros((0, 2))
    mine = turns.speakers == turns.speaker_names.index(speaker)
    return representative_segments(turns.starts[mine], turns.ends[mine], turns.confidences[mine])
