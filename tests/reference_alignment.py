"""A plain, per-word reference implementation of the alignment rule (docs/architecture.md, "Alignment").

Deliberately naive (a loop over every word and every turn) so that it is easy
to check by eye; hypothesis compares the vectorised implementation with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from diarflow.domain.alignment import GAP_SCORE_CEILING


@dataclass(frozen=True)
class ReferenceWord:
    speaker: int  # -1: none
    score: float
    confidence: float | None
    alternatives: tuple[tuple[int, float], ...]


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def reference_align(
    words: list[tuple[float, float]],
    turns: list[tuple[float, float, int]],
    num_speakers: int,
    weights: list[float],
    *,
    gap_tolerance: float,
    margin: float,
) -> list[ReferenceWord]:
    speech = [_merge([(s, e) for s, e, k in turns if k == speaker]) for speaker in range(num_speakers)]
    out = []
    for start, end in words:
        length = end - start
        scores = []
        for intervals in speech:
            if length <= 0:
                scores.append(1.0 if any(s <= start <= e for s, e in intervals) else 0.0)
            else:
                covered = sum(max(0.0, min(end, e) - max(start, s)) for s, e in intervals)
                scores.append(min(1.0, covered / length))
        best = max(range(num_speakers), key=lambda k: (scores[k], -k)) if num_speakers else -1
        best_score = scores[best] if num_speakers else 0.0
        if best_score <= 0 and gap_tolerance > 0 and num_speakers:
            distances = []
            for intervals in speech:
                gaps = [max(s - end, start - e, 0.0) for s, e in intervals]
                distances.append(min(gaps) if gaps else float("inf"))
            nearest = min(range(num_speakers), key=lambda k: (distances[k], k))
            if distances[nearest] <= gap_tolerance:
                best = nearest
                best_score = max(GAP_SCORE_CEILING * (1 - distances[nearest] / gap_tolerance), 1e-3)
                scores[best] = best_score
        if best_score <= 0:
            out.append(ReferenceWord(-1, 0.0, None, ()))
            continue
        confidences = [scores[k] * weights[k] for k in range(num_speakers)]
        winner = confidences[best]
        alternatives = tuple(
            (k, confidences[k])
            for k in range(num_speakers)
            if k != best and confidences[k] > 0 and confidences[k] >= winner - margin
        )
        out.append(ReferenceWord(best, best_score, winner, alternatives))
    return out
