"""Alignment: the vectorised rule agrees with the per-word reference, and the edge cases hold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diarflow.domain.alignment import align_words
from diarflow.domain.turns import Turns
from tests.reference_alignment import reference_align

NAMES = ("S0", "S1", "S2", "S3")


def make_turns(turns: list[tuple[float, float, int]], confidences: list[float] | None = None) -> Turns:
    return Turns.from_columns([t[0] for t in turns], [t[1] for t in turns], [NAMES[t[2]] for t in turns], confidences)


def align(words: list[tuple[float, float]], turns: Turns, weights: list[float], **kwargs: float):  # type: ignore[no-untyped-def]
    starts = np.array([w[0] for w in words], dtype=float)
    ends = np.array([w[1] for w in words], dtype=float)
    return align_words(starts, ends, turns, np.array(weights, dtype=float), **kwargs)


def test_word_takes_the_speaker_covering_most_of_it() -> None:
    turns = make_turns([(0, 2.5, 0), (2.5, 5, 1), (5, 8, 0)])
    result = align([(0.1, 0.3), (2.4, 2.8), (4.9, 5.05), (7.0, 7.5)], turns, [0.9, 0.8])
    assert result.speakers.tolist() == [0, 1, 1, 0]
    np.testing.assert_allclose(result.scores, [1.0, 0.75, 2 / 3, 1.0])
    np.testing.assert_allclose(result.confidences, [0.9, 0.6, 0.8 * 2 / 3, 0.9])


def test_adjacent_turns_of_one_speaker_add_up() -> None:
    # A word straddling two consecutive turns of speaker 0 is fully covered by speaker 0.
    turns = make_turns([(0, 1, 0), (1, 2, 0), (0.9, 1.1, 1)])
    result = align([(0.8, 1.2)], turns, [1.0, 1.0])
    assert result.speakers.tolist() == [0]
    assert result.scores.tolist() == [1.0]


def test_overlapping_turns_keep_the_runner_up_as_an_alternative() -> None:
    turns = make_turns([(0, 10, 0), (4, 6, 1)])
    result = align([(4.5, 5.0)], turns, [0.9, 0.85], near_miss_margin=0.15)
    assert result.speakers.tolist() == [0]
    assert result.alt_words.tolist() == [0]
    assert result.alt_speakers.tolist() == [1]
    np.testing.assert_allclose(result.alt_confidences, [0.85])


def test_zero_length_word_belongs_to_the_turn_containing_it() -> None:
    turns = make_turns([(0, 1, 0), (1.5, 3, 1)])
    result = align([(2.0, 2.0), (0.5, 0.5)], turns, [1.0, 1.0])
    assert result.speakers.tolist() == [1, 0]
    assert result.scores.tolist() == [1.0, 1.0]


def test_words_in_gaps_take_the_nearest_turn_with_lower_confidence_or_none() -> None:
    turns = make_turns([(0, 1, 0), (10, 11, 1)])
    result = align([(1.2, 1.4), (9.5, 9.8), (5.0, 5.2)], turns, [1.0, 1.0], gap_tolerance=1.0)
    assert result.speakers.tolist() == [0, 1, -1]
    np.testing.assert_allclose(result.scores[:2], [0.5 * (1 - 0.2), 0.5 * (1 - 0.2)])
    assert np.isnan(result.confidences[2])
    assert result.unattributed == 1


def test_no_turns_means_no_speakers() -> None:
    result = align([(0, 1)], Turns.empty(), [])
    assert result.speakers.tolist() == [-1]


def test_many_speakers_are_processed_in_bounded_chunks() -> None:
    # 600 speakers × 10,000 words would be 6M cells: the implementation chunks words.
    rng = np.random.default_rng(1)
    starts = np.sort(rng.uniform(0, 6000, 600))
    turns = Turns.from_columns(starts, starts + 5, [f"S{i}" for i in range(600)])
    word_starts = np.sort(rng.uniform(0, 6000, 10_000))
    result = align_words(word_starts, word_starts + 0.2, turns, np.ones(600))
    assert result.speakers.size == 10_000
    assert (result.speakers >= 0).sum() > 0


dyadic_time = st.integers(min_value=0, max_value=160).map(lambda n: n / 8)


@st.composite
def episodes(draw: st.DrawFn) -> tuple[list[tuple[float, float]], list[tuple[float, float, int]], list[float]]:
    num_speakers = draw(st.integers(min_value=1, max_value=4))
    raw_turns = draw(
        st.lists(st.tuples(dyadic_time, dyadic_time, st.integers(0, num_speakers - 1)), min_size=1, max_size=25)
    )
    turns = [(min(a, b), max(a, b), k) for a, b, k in raw_turns]
    raw_words = draw(st.lists(st.tuples(dyadic_time, st.integers(0, 12).map(lambda n: n / 8)), min_size=1, max_size=60))
    words = [(start, start + length) for start, length in raw_words]
    weights = draw(st.lists(st.integers(1, 8).map(lambda n: n / 8), min_size=num_speakers, max_size=num_speakers))
    return words, turns, weights


@settings(max_examples=400, deadline=None)
@given(episodes(), st.sampled_from([0.0, 0.5, 1.0]), st.sampled_from([0.0, 0.125, 0.25]))
def test_vectorised_alignment_agrees_with_the_reference(
    episode: tuple[list[tuple[float, float]], list[tuple[float, float, int]], list[float]],
    gap_tolerance: float,
    margin: float,
) -> None:
    words, turn_list, weights = episode
    speakers_present = sorted({k for _, _, k in turn_list})
    # Turns numbers speakers by first appearance; map the reference to the same numbering.
    turns = make_turns(turn_list)
    order = [NAMES.index(name) for name in turns.speaker_names]
    fast = align(words, turns, [weights[k] for k in order], gap_tolerance=gap_tolerance, near_miss_margin=margin)
    renumbered = [(s, e, order.index(k)) for s, e, k in turn_list]
    expected = reference_align(
        words, renumbered, len(order), [weights[k] for k in order], gap_tolerance=gap_tolerance, margin=margin
    )
    assert len(speakers_present) == len(order)
    for i, ref in enumerate(expected):
        assert fast.speakers[i] == ref.speaker, f"word {i} {words[i]}"
        if ref.confidence is None:
            assert np.isnan(fast.confidences[i])
        else:
            assert fast.confidences[i] == pytest.approx(ref.confidence, abs=1e-12)
        mask = fast.alt_words == i
        got = sorted(zip(fast.alt_speakers[mask].tolist(), fast.alt_confidences[mask].tolist(), strict=True))
        assert [k for k, _ in got] == sorted(k for k, _ in ref.alternatives)
        for (_, c_fast), (_, c_ref) in zip(got, sorted(ref.alternatives), strict=True):
            assert c_fast == pytest.approx(c_ref, abs=1e-12)
