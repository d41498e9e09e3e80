"""The one reader of enriched words: strict for exports, lenient for the report and ``diarflow show``."""

from __future__ import annotations

from typing import Any

import pytest

from diarflow.domain import enriched_words
from diarflow.domain.enriched_words import EnrichedColumns, milliseconds, read_enriched_words
from diarflow.errors import InvalidTranscript
from tests.report_episodes import long_episode


def word(start: Any, end: Any, text: Any = "w", speaker: Any = "Ann", confidence: Any = 0.9, **extra: Any) -> Any:
    return {
        "start": start,
        "end": end,
        "word": text,
        "speaker": speaker,
        "speaker_confidence": confidence,
        "diar_speaker": "S0",
        "source": "local",
        **extra,
    }


def as_rows(columns: EnrichedColumns) -> list[tuple[Any, ...]]:
    return list(
        zip(
            columns.starts.tolist(),
            columns.ends.tolist(),
            columns.texts,
            columns.speakers,
            columns.confidences,
            strict=True,
        )
    )


def test_a_well_formed_transcript_reads_the_same_strictly_leniently_and_word_by_word() -> None:
    episode = long_episode(num_words=2_000, num_turns=100, num_speakers=3, hours=0.3)
    assert episode.enriched is not None
    words = episode.enriched["words"]
    words[3]["alternatives"] = [{"speaker": "X", "confidence": 0.4}, {"speaker": None}, "junk"]
    strict = read_enriched_words(episode.enriched)
    lenient = read_enriched_words(episode.enriched, lenient=True)
    one_by_one = enriched_words._read_word_by_word(words)
    assert as_rows(strict) == as_rows(lenient) == as_rows(one_by_one)
    assert len(strict) == len(words)
    assert strict.skipped == lenient.skipped == 0
    assert strict.alternatives == one_by_one.alternatives
    assert strict.alternatives[3] == [("X", 0.4)]
    assert milliseconds(strict.starts).tolist() == [round(w["start"] * 1000) for w in words]


@pytest.mark.parametrize(
    ("words", "path", "problem"),
    [
        ([word(0, 1), "x"], r"words\[1\]", "must be an object"),
        ([word(0, 1), word(1, "soon")], r"words\[1\]\.end", 'must be a number, got "soon"'),
        ([{"end": 1, "word": "w"}], r"words\[0\]\.start", "is missing"),
        ([word(float("nan"), 1)], r"words\[0\]\.start", "must be a finite"),
        ([word(0, 10**400)], r"words\[0\]\.end", "must be a finite"),
        ([word(0, 1, text=3)], r"words\[0\]\.word", "must be a string, got 3"),
        ([word(0, 1, speaker=["Ann"])], r"words\[0\]\.speaker", "must be a string or null"),
        ([word(0, 1, confidence="high")], r"words\[0\]\.speaker_confidence", "must be a number or null"),
        ([word(0, 1), word(1, 2, confidence=1.5)], r"words\[1\]\.speaker_confidence", "must be between 0 and 1"),
        ([word(0, 1, confidence=float("nan"))], r"words\[0\]\.speaker_confidence", "must be between 0 and 1"),
    ],
)
def test_strictly_the_first_defect_is_refused_with_its_path(words: list[Any], path: str, problem: str) -> None:
    with pytest.raises(InvalidTranscript, match=rf"^{path}: {problem}"):
        read_enriched_words({"words": words})


def test_strictly_a_document_without_a_words_list_is_refused() -> None:
    for document in ({}, {"words": {}}, None, []):
        with pytest.raises(InvalidTranscript, match=r"^words: must be a list of words"):
            read_enriched_words(document)


def test_leniently_speaker_and_confidence_defects_are_repaired_in_their_columns() -> None:
    words = [word(0, 1, speaker=7), word(1, 2, confidence=1.7), word(2, 3, confidence=float("inf")), word(3, 4)]
    columns = read_enriched_words({"words": words}, lenient=True)
    assert columns.speakers == [None, "Ann", "Ann", "Ann"]
    assert columns.confidences == [0.9, 1.0, None, 0.9]
    assert as_rows(columns) == as_rows(enriched_words._read_word_by_word(words))


def test_leniently_a_word_without_valid_times_is_left_out_and_counted() -> None:
    words = [word(0, 1, speaker=None), "x", word(1, None), word(2, 3, text=42), word(3, 4, text=None)]
    columns = read_enriched_words({"words": words}, lenient=True)
    assert columns.skipped == 2
    assert columns.texts == ["w", "42", ""]
    assert columns.speaker_counts() == {"Ann": 2, None: 1}


@pytest.mark.parametrize("document", [None, [], {}, {"words": "many"}, {"words": None}])
def test_leniently_a_document_without_words_reads_as_no_words(document: Any) -> None:
    columns = read_enriched_words(document, lenient=True)
    assert len(columns) == 0
    assert columns.skipped == 0
    assert columns.alternatives == {}
