"""The transcript reader: both forms, and an error naming the path for every defect."""

from __future__ import annotations

import copy
import sys
from typing import Any

import numpy as np
import orjson
import pytest

from diarflow.domain.transcript import DEEPGRAM_WORDS_PATH, parse_transcript, read_transcript
from diarflow.errors import InvalidTranscript
from diarflow.samples.synthetic import synthetic_deepgram


@pytest.fixture
def deepgram() -> dict[str, Any]:
    return synthetic_deepgram(num_words=40, num_turns=6, num_speakers=2, seed=3)


def words_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    words: list[dict[str, Any]] = document["results"]["channels"][0]["alternatives"][0]["words"]
    return words


def test_reads_deepgram_columns_and_prefers_punctuated_words(deepgram: dict[str, Any]) -> None:
    transcript = read_transcript(deepgram)
    words = words_of(deepgram)
    assert len(transcript) == 40
    assert transcript.form == "deepgram"
    np.testing.assert_array_equal(transcript.starts, [w["start"] for w in words])
    np.testing.assert_array_equal(transcript.ends, [w["end"] for w in words])
    assert transcript.texts == [w["punctuated_word"] for w in words]
    assert transcript.speakers.tolist() == [w["speaker"] for w in words]
    assert transcript.speaker_confidences.tolist() == [w["speaker_confidence"] for w in words]
    assert len(transcript.utterances) == 6
    assert transcript.duration == deepgram["metadata"]["duration"]
    assert transcript.has_speakers


def test_reads_plain_words_with_string_speakers() -> None:
    transcript = parse_transcript(
        orjson.dumps(
            {
                "words": [
                    {"start": 0, "end": 0.5, "word": "hi", "speaker": "host"},
                    {"start": 0.5, "end": 1.0, "word": "there", "speaker": "guest"},
                    {"start": 1.0, "end": 1.2, "word": "ok"},
                ]
            }
        )
    )
    assert transcript.form == "plain"
    assert transcript.speaker_names == ("host", "guest")
    assert transcript.speakers.tolist() == [0, 1, -1]
    assert transcript.texts == ["hi", "there", "ok"]
    assert np.isnan(transcript.speaker_confidences).all()
    assert transcript.duration == 1.2


def test_plain_words_without_speakers_have_none() -> None:
    transcript = read_transcript({"words": [{"start": 0, "end": 1, "word": "a"}]})
    assert not transcript.has_speakers


def _break(document: dict[str, Any], index: int, field: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(document)
    word = words_of(broken)[index]
    if value is _MISSING:
        del word[field]
    else:
        word[field] = value
    return broken


_MISSING = object()


@pytest.mark.parametrize(
    ("index", "field", "value", "expected"),
    [
        (17, "end", 0.0, "words[17].end: 0.0 is before start"),
        (3, "start", _MISSING, "words[3].start: is missing"),
        (4, "start", "1.5", 'words[4].start: must be a number, got "1.5"'),
        (5, "end", -1, "words[5].end: must be a finite, non-negative time up to 172,800 s (48 h), got -1"),
        (6, "end", True, "words[6].end: must be a number, got true"),
        (7, "end", None, "words[7].end: must be a number, got null"),
        (8, "word", _MISSING, "words[8].word: is missing"),
        (9, "word", 12, "words[9].word: must be a string, got 12"),
        (10, "punctuated_word", ["x"], "words[10].punctuated_word: must be a string"),
        (11, "speaker", "A", 'words[11].speaker: must be an integer, got "A"'),
        (12, "speaker", -2, "words[12].speaker: must be a non-negative integer, got -2"),
        (13, "speaker_confidence", 1.5, "words[13].speaker_confidence: must be between 0 and 1, got 1.5"),
        (14, "speaker_confidence", "high", "words[14].speaker_confidence: must be a number"),
        (15, "start", 1e400, "words[15].start: must be a finite, non-negative time"),
        (16, "end", 1e306, "words[16].end: must be a finite, non-negative time up to 172,800 s (48 h), got 1e+306"),
        (18, "start", 172_800.5, "words[18].start: must be a finite, non-negative time up to 172,800 s (48 h)"),
        (
            19,
            "speaker",
            2**63,
            "words[19].speaker: must be a non-negative integer up to 10,000, got 9223372036854775808",
        ),
    ],
)
def test_every_word_defect_names_its_path(
    deepgram: dict[str, Any], index: int, field: str, value: Any, expected: str
) -> None:
    document = _break(deepgram, index, field, value)
    with pytest.raises(InvalidTranscript) as caught:
        read_transcript(document)
    assert str(caught.value).startswith(DEEPGRAM_WORDS_PATH.rsplit(".", 1)[0])
    assert expected in str(caught.value)


def test_end_before_start_message_matches_the_documented_example(deepgram: dict[str, Any]) -> None:
    document = copy.deepcopy(deepgram)
    words_of(document)[17].update(start=9.0, end=8.0)
    with pytest.raises(
        InvalidTranscript,
        match=r"^results\.channels\[0\]\.alternatives\[0\]\.words\[17\]\.end: 8\.0 is before start 9\.0$",
    ):
        read_transcript(document)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"{not json", "transcript: is not valid JSON"),
        (b'{"a": NaN}', "transcript: is not valid JSON"),
        (b"[]", "transcript: must be a JSON object, got an array"),
        (b"{}", "transcript: is neither a Deepgram response"),
        (b'{"results": []}', "results: must be an object, got an array"),
        (b'{"results": {}}', "results.channels: is missing"),
        (b'{"results": {"channels": []}}', "results.channels: is empty"),
        (b'{"results": {"channels": [{"alternatives": []}]}}', "results.channels[0].alternatives: is empty"),
        (
            b'{"results": {"channels": [{"alternatives": [{}]}]}}',
            "results.channels[0].alternatives[0].words: is missing",
        ),
        (
            b'{"results": {"channels": [{"alternatives": [{"words": [3]}]}]}}',
            "words[0]: must be an object, got a number",
        ),
        (b'{"words": {}}', "words: must be an array, got an object"),
    ],
)
def test_structural_defects_name_the_field(data: bytes, field: str) -> None:
    with pytest.raises(InvalidTranscript) as caught:
        parse_transcript(data)
    assert field in str(caught.value)


def test_utterance_defects_name_their_path(deepgram: dict[str, Any]) -> None:
    document = copy.deepcopy(deepgram)
    document["results"]["utterances"][2]["end"] = 0.0
    with pytest.raises(InvalidTranscript, match=r"^results\.utterances\[2\]\.end: 0\.0 is before start"):
        read_transcript(document)
    document = copy.deepcopy(deepgram)
    document["results"]["utterances"][1]["speaker"] = "x"
    with pytest.raises(InvalidTranscript, match=r"^results\.utterances\[1\]\.speaker: must be a non-negative integer"):
        read_transcript(document)


def test_bad_metadata_duration_is_named(deepgram: dict[str, Any]) -> None:
    deepgram["metadata"]["duration"] = "long"
    with pytest.raises(InvalidTranscript, match=r"^metadata\.duration: must be a finite, non-negative time"):
        read_transcript(deepgram)


def test_words_out_of_time_order_are_refused_naming_the_first(deepgram: dict[str, Any]) -> None:
    """Refused rather than sorted: enriched word i stays transcript word i, and no export runs backwards."""
    document = copy.deepcopy(deepgram)
    words = words_of(document)
    words[21]["start"], words[21]["end"] = words[19]["start"], words[19]["end"]  # back in time, still end >= start
    expected = (
        rf"^results\.channels\[0\]\.alternatives\[0\]\.words\[21\]\.start: {words[19]['start']!r} is before the "
        rf"previous word's start {words[20]['start']!r}: words must be in time order \(sort them by start\)$"
    )
    with pytest.raises(InvalidTranscript, match=expected):
        read_transcript(document)
    with pytest.raises(InvalidTranscript, match=expected):  # the typed fast path refuses it too
        parse_transcript(orjson.dumps(document))
    plain = {"words": [{"start": 1.0, "end": 1.5, "word": "b"}, {"start": 0.5, "end": 0.9, "word": "a"}]}
    with pytest.raises(InvalidTranscript, match=r"^words\[1\]\.start: 0\.5 is before the previous word's start 1\.0"):
        read_transcript(plain)


def test_words_that_start_together_or_overlap_are_in_order() -> None:
    transcript = read_transcript(
        {
            "words": [
                {"start": 0.0, "end": 1.0, "word": "a", "speaker": "x"},
                {"start": 0.0, "end": 0.4, "word": "b", "speaker": "y"},  # overlapping speech
                {"start": 0.2, "end": 0.3, "word": "c", "speaker": "x"},
            ]
        }
    )
    assert transcript.texts == ["a", "b", "c"]


DEEPGRAM_AROUND = b'{"metadata": {"duration": 1}, "results": {"channels": [{"alternatives": [{"words": [%s]}]}]}}'
WORD = b'{"start": 0, "end": 1, "word": "a", "speaker": 0}'


@pytest.mark.parametrize(
    ("document", "depth", "field"),
    [
        # Where the dict reader decides whatever the interpreter: a plain transcript, a field diarflow reads,
        # an otherwise invalid word, or nesting deeper than any recursion limit lets msgspec follow.
        (b'{"words": [%s], "notes": NESTED}' % WORD, 1_025, "notes"),
        (b'{"words": [%s], "notes": NESTED}' % WORD, 100_000, "notes"),
        (DEEPGRAM_AROUND % b'{"start": 0, "end": 1, "word": "a", "speaker": NESTED}', 1_025, "words[0].speaker"),
        (DEEPGRAM_AROUND % b'%s, {"extra": NESTED}' % WORD, 1_025, "words[1].extra"),
        (
            DEEPGRAM_AROUND % b'{"start": 0, "end": 1, "word": "a", "confidence": NESTED}',
            100_000,
            "words[0].confidence",
        ),
        (
            b'{"metadata": {"x": NESTED}, "results": {"channels": [{"alternatives": [{"words": [%s]}]}]}}' % WORD,
            100_000,
            "metadata.x",
        ),
    ],
)
def test_nesting_deeper_than_1024_levels_is_refused_naming_where(document: bytes, depth: int, field: str) -> None:
    data = document.replace(b"NESTED", b"[" * depth + b"]" * depth)
    with pytest.raises(InvalidTranscript) as caught:
        parse_transcript(data)
    assert field in caught.value.field
    assert caught.value.field.endswith("…")  # a thousand [0]s are not spelled out
    assert caught.value.problem == "is nested more than 1,024 levels deep (arrays and objects inside each other)"


def test_a_field_diarflow_skips_is_read_as_deep_as_the_interpreter_lets_msgspec_recurse() -> None:
    """The one latitude: orjson stops at 1,024 levels, msgspec skips an unread field as deep as it may recurse.

    Under Python 3.11's default limit (1,000) that field is refused as above;
    with a higher one (or Python 3.12's C limit) it is read, and the
    transcript is the one without it. Either way, never a RecursionError.
    """
    nested = b"[" * 1_100 + b"]" * 1_100
    data = b'{"metadata": {"x": %s}, "results": {"channels": [{"alternatives": [{"words": [%s]}]}]}}' % (nested, WORD)
    without = parse_transcript(DEEPGRAM_AROUND % WORD)
    default = sys.getrecursionlimit()
    for limit in (1_000, 3_000):
        sys.setrecursionlimit(limit)
        try:
            transcript, error = parse_transcript(data), None
        except InvalidTranscript as refused:
            transcript, error = None, refused
        finally:
            sys.setrecursionlimit(default)
        if error is not None:
            assert error.field.startswith("metadata.x[0]"), error
        else:
            assert transcript is not None
            assert transcript.texts == without.texts
            np.testing.assert_array_equal(transcript.starts, without.starts)


@pytest.mark.parametrize("depth", [990, 1_000, 1_024])
def test_nesting_up_to_1024_levels_is_read_without_recursion(depth: int) -> None:
    """msgspec, the fast path, would recurse that deep into a field it skips; orjson does not."""
    arrays = depth - 2  # the document and "metadata" are two levels already
    data = b'{"metadata": {"x": %s}, "results": {"channels": [{"alternatives": [{"words": [%s]}]}]}}' % (
        b"[" * arrays + b"]" * arrays,
        b'{"start": 0, "end": 1, "word": "a", "speaker": 0}',
    )
    assert len(parse_transcript(data)) == 1


@pytest.mark.parametrize(
    "data",
    [
        b'{"metadata": {"duration": 12.5}, "results": {"channels": [{"alternatives": [{"transcript": "", '
        b'"words": []}]}], "utterances": []}}',
        b'{"results": {"channels": [{"alternatives": [{"words": []}]}, {"alternatives": [{"words": []}]}]}}',
        b'{"words": []}',
    ],
)
def test_a_transcript_without_words_is_valid_and_empty(data: bytes) -> None:
    """Silent audio: Deepgram answers with no words, which is an episode with nothing to attribute."""
    transcript = parse_transcript(data)
    assert len(transcript) == 0
    assert transcript.starts.size == transcript.channels.size == transcript.speakers.size == 0
    assert not transcript.has_speakers
    assert transcript.duration == (12.5 if b"12.5" in data else 0.0)
