"""Clusters: a diarization's turns grouped by speaker, with canonical labels.

Canonical labels (``A``, ``B``, … ``Z``, ``AA``, …) follow first appearance, so
the same diarization always gets the same labels whatever its speakers are
called by the diarizer.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np

from diarflow.domain.turns import Turns


@dataclass(frozen=True, slots=True)
class Representative:
    """The turn chosen to stand for a cluster: most confident, then longest."""

    start: float
    end: float
    confidence: float | None


@dataclass(frozen=True, slots=True)
class Cluster:
    """One diarization speaker and what the audit says about it."""

    speaker_key: str
    label: str
    duration: float
    segments_count: int
    confidence: float | None
    """Duration-weighted mean of the turns' confidences (None when no turn has one)."""
    representative: Representative


def canonical_label(index: int) -> str:
    """``0 -> A``, ``25 -> Z``, ``26 -> AA``: spreadsheet-style, unbounded."""
    letters = string.ascii_uppercase
    label = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        label = letters[remainder] + label
    return label


def cluster_turns(turns: Turns) -> list[Cluster]:
    """Group turns by speaker, in order of first appearance."""
    if len(turns) == 0:
        return []
    n = len(turns.speaker_names)
    speakers = turns.speakers
    durations = turns.durations
    first_seen = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_seen, speakers, np.arange(len(turns)))
    present = np.flatnonzero(first_seen < np.iinfo(np.int64).max)
    order = present[np.argsort(first_seen[present], kind="stable")]

    total = np.bincount(speakers, weights=durations, minlength=n)
    counts = np.bincount(speakers, minlength=n)
    known = ~np.isnan(turns.confidences)
    weighted = np.bincount(speakers[known], weights=(turns.confidences * durations)[known], minlength=n)
    known_time = np.bincount(speakers[known], weights=durations[known], minlength=n)
    known_count = np.bincount(speakers[known], minlength=n)
    plain_mean = np.bincount(speakers[known], weights=turns.confidences[known], minlength=n)

    ranking = np.lexsort((-durations, -np.nan_to_num(turns.confidences, nan=-1.0), speakers))
    group_starts = np.flatnonzero(np.r_[True, speakers[ranking][1:] != speakers[ranking][:-1]])
    best = {int(speakers[ranking[i]]): int(ranking[i]) for i in group_starts}

    clusters = []
    for position, speaker in enumerate(order.tolist()):
        if known_count[speaker] == 0:
            confidence = None
        elif known_time[speaker] > 0:
            confidence = float(weighted[speaker] / known_time[speaker])
        else:  # only zero-length turns carry a confidence
            confidence = float(plain_mean[speaker] / known_count[speaker])
        rep = best[speaker]
        rep_conf = float(turns.confidences[rep])
        clusters.append(
            Cluster(
                speaker_key=turns.speaker_names[speaker],
                label=canonical_label(position),
                duration=float(total[speaker]),
                segments_count=int(counts[speaker]),
                confidence=None if confidence is None else min(1.0, max(0.0, confidence)),
                representative=Representative(
                    float(turns.starts[rep]), float(turns.ends[rep]), None if rep_conf != rep_conf else rep_conf
                ),
            )
        )
    return clusters
