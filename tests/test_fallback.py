"""The Deepgram fallback: turns from utterances or from runs of same-speaker words."""

from __future__ import annotations

import numpy as np
import pytest

from diarflow.domain.fallback import turns_from_transcript
from diarflow.domain.transcript import read_transcript
from diarflow.errors import InvalidTranscript
from diarflow.samples.synthetic import synthetic_deepgram


def test_turns_follow_utterances_with_mean_word_confidence() -> None:
    document = synthetic_deepgram(num_words=200, num_turns=12, num_speakers=3, seed=5)
    turns = turns_from_transcript(read_transcript(document))
    utterances = document["results"]["utterances"]
    assert len(turns) == 12
    np.testing.assert_allclose(turns.starts, [u["start"] for u in utterances])
    assert [turns.speaker_names[k] for k in turns.speakers] == [f"SPEAKER_{u['speaker']}" for u in utterances]
    expected = [np.mean([w["speaker_confidence"] for w in u["words"]]) for u in utterances]
    np.testing.assert_allclose(turns.confidences, expected)


def test_without_utterances_runs_of_words_become_turns() -> None:
    words = [
        {"start": 0.0, "end": 0.4, "word": "a", "speaker": 0},
        {"start": 0.5, "end": 0.9, "word": "b", "speaker": 0},
        {"start": 1.0, "end": 1.4, "word": "c", "speaker": 1},
        {"start": 1.5, "end": 1.9, "word": "d", "speaker": 0, "speaker_confidence": 0.5},
    ]
    turns = turns_from_transcript(read_transcript({"words": words}), default_confidence=0.8)
    assert turns.starts.tolist() == [0.0, 1.0, 1.5]
    assert turns.ends.tolist() == [0.9, 1.4, 1.9]
    assert [turns.speaker_names[k] for k in turns.speakers] == ["SPEAKER_0", "SPEAKER_1", "SPEAKER_0"]
    assert turns.confidences.tolist() == [0.8, 0.8, 0.5]


def test_a_transcript_without_speakers_cannot_fall_back() -> None:
    with pytest.raises(InvalidTranscript, match="carries no speaker labels"):
        turns_from_transcript(read_transcript({"words": [{"start": 0, "end": 1, "word": "a"}]}))
