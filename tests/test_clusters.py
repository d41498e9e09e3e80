"""Clusters: canonical labels by first appearance, durations, representatives, confidences."""

from __future__ import annotations

import pytest

from diarflow.domain.clusters import canonical_label, cluster_turns
from diarflow.domain.turns import Turns


def test_spec_fixture_gives_two_clusters_with_weighted_confidence() -> None:
    turns = Turns.from_segments(
        [
            {"start": 0.0, "end": 2.5, "speaker": "SPEAKER_0", "confidence": 0.96},
            {"start": 2.5, "end": 5.0, "speaker": "SPEAKER_1", "confidence": 0.91},
            {"start": 5.0, "end": 8.0, "speaker": "SPEAKER_0", "confidence": 0.93},
        ]
    )
    first, second = cluster_turns(turns)
    assert (first.speaker_key, first.label, second.speaker_key, second.label) == ("SPEAKER_0", "A", "SPEAKER_1", "B")
    assert first.duration == pytest.approx(5.5)
    assert first.segments_count == 2
    assert first.confidence == pytest.approx((0.96 * 2.5 + 0.93 * 3.0) / 5.5)
    assert (first.representative.start, first.representative.end) == (0.0, 2.5)
    assert second.confidence == pytest.approx(0.91)


def test_labels_follow_first_appearance_not_diarizer_names() -> None:
    turns = Turns.from_columns([5, 0, 9], [6, 1, 10], ["z", "y", "x"])
    assert [(c.speaker_key, c.label) for c in cluster_turns(turns)] == [("y", "A"), ("z", "B"), ("x", "C")]


def test_representative_prefers_confidence_then_length() -> None:
    turns = Turns.from_columns([0, 2, 10], [1, 9, 11], ["a", "a", "a"], [0.9, 0.9, 0.95])
    assert cluster_turns(turns)[0].representative.start == 10
    tied = Turns.from_columns([0, 2], [1, 9], ["a", "a"], [0.9, 0.9])
    assert cluster_turns(tied)[0].representative.start == 2


def test_unknown_confidences_give_none() -> None:
    turns = Turns.from_columns([0], [1], ["a"])
    assert cluster_turns(turns)[0].confidence is None
    assert cluster_turns(Turns.empty()) == []


@pytest.mark.parametrize(("index", "label"), [(0, "A"), (25, "Z"), (26, "AA"), (27, "AB"), (701, "ZZ"), (702, "AAA")])
def test_canonical_labels_are_unbounded(index: int, label: str) -> None:
    assert canonical_label(index) == label
