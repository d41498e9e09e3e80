"""The Deepgram fallback: turns from runs of each word's own speaker (utterances only end runs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from diarflow.adapters.diarizers.base import DiarizerOutput
from diarflow.adapters.stores import LocalStore
from diarflow.config import Settings
from diarflow.domain.alignment import align_words
from diarflow.domain.fallback import own_label_confidences, own_turn_speakers, turns_from_transcript
from diarflow.domain.transcript import parse_transcript, read_transcript
from diarflow.domain.turns import Turns
from diarflow.errors import InvalidDiarization, InvalidTranscript
from diarflow.orchestration.stages import write_diarization
from diarflow.orchestration.workspace import Workspace
from diarflow.samples.synthetic import synthetic_deepgram
from tests.deepgram_documents import call_centre_one_speaker, multichannel_interview


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


CORPUS = Path(__file__).parent / "data" / "deepgram"


def _speaker_of_turns(turns: Turns) -> list[str]:
    return [turns.speaker_names[k] for k in turns.speakers]


def test_each_word_keeps_its_own_speaker_inside_an_utterance_of_another() -> None:
    """A real response whose utterances 11, 13 and 20 hold words of another speaker (see the corpus README)."""
    document = orjson.loads((CORPUS / "captions-nova2-diarize-utterances.json").read_bytes())
    transcript = read_transcript(document)
    turns = turns_from_transcript(transcript)
    names = np.array(_speaker_of_turns(turns))
    foreign = 0
    for utterance in document["results"]["utterances"]:
        foreign += sum(word["speaker"] != utterance["speaker"] for word in utterance["words"])
    assert foreign == 13  # the words the utterances would have given to the wrong person
    for i in range(len(transcript)):
        own = f"SPEAKER_{transcript.speaker_names[transcript.speakers[i]]}"
        holds = (turns.starts <= transcript.starts[i]) & (turns.ends >= transcript.ends[i])
        assert (holds & (names == own)).any(), f"word {i} is in no turn of its own speaker"
        # ... and a turn never starts or ends inside another speaker's word run
        assert not (holds & (names != own) & (turns.starts > transcript.starts[i])).any(), i


def test_an_utterance_boundary_ends_a_turn_even_between_words_of_one_speaker() -> None:
    words = [{"start": 0.1 * i, "end": 0.1 * i + 0.08, "word": "w", "speaker": 0} for i in (0, 1, 2, 10, 11)]
    utterances = [{"start": 0.0, "end": 0.28, "speaker": 0}, {"start": 1.0, "end": 1.18, "speaker": 0}]
    document = {"results": {"channels": [{"alternatives": [{"words": words}]}], "utterances": utterances}}
    turns = turns_from_transcript(read_transcript(document))
    assert turns.starts.tolist() == [0.0, 1.0]
    assert _speaker_of_turns(turns) == ["SPEAKER_0", "SPEAKER_0"]


def test_turn_confidences_stay_within_0_and_1_where_running_sums_overshoot() -> None:
    """Means of many 1.0s taken as differences of running sums came out at 1.0000000000000095."""
    transcript = read_transcript(call_centre_one_speaker())
    turns = turns_from_transcript(transcript)
    assert len(turns) > 10
    assert ((turns.confidences >= 0) & (turns.confidences <= 1)).all()
    assert (turns.confidences == 1.0).any()
    Turns.from_segments(turns.to_segments())  # reads back: what we write passes our own validation


def test_a_multichannel_response_keeps_each_channels_speakers_apart() -> None:
    document = multichannel_interview()
    transcript = parse_transcript(orjson.dumps(document))
    assert transcript.num_channels == 2
    assert transcript.speaker_names == ("ch0.0", "ch1.0")  # both tracks call their person "speaker 0"
    assert (np.diff(transcript.starts) >= 0).all()
    by_channel = [[w["word"] for w in c["alternatives"][0]["words"]] for c in document["results"]["channels"]]
    for channel in (0, 1):
        mine = np.flatnonzero(transcript.channels == channel)
        assert [transcript.texts[i] for i in mine] == [
            w["punctuated_word"] for w in document["results"]["channels"][channel]["alternatives"][0]["words"]
        ]
        assert len(mine) == len(by_channel[channel])
        assert set(transcript.speakers[mine].tolist()) == {channel}
    turns = turns_from_transcript(transcript)
    assert set(_speaker_of_turns(turns)) == {"SPEAKER_ch0.0", "SPEAKER_ch1.0"}
    # Crosstalk: the guest's "Mm-hmm." lies inside the host's turn, yet is a turn of the guest's own.
    mm = transcript.texts.index("Mm-hmm.")
    holds = (turns.starts <= transcript.starts[mm]) & (turns.ends >= transcript.ends[mm])
    assert sorted(np.array(_speaker_of_turns(turns))[holds].tolist()) == ["SPEAKER_ch0.0", "SPEAKER_ch1.0"]


def test_deepgrams_own_word_confidence_is_kept_for_words_on_their_own_speaker() -> None:
    transcript = read_transcript(orjson.loads((CORPUS / "captions-nova2-diarize-no-utterances.json").read_bytes()))
    turns = turns_from_transcript(transcript)
    own = own_turn_speakers(transcript, turns.speaker_names)
    alignment = align_words(
        transcript.starts, transcript.ends, turns, np.full(len(turns.speaker_names), np.nan), preferred_speakers=own
    )
    np.testing.assert_array_equal(alignment.speakers, own)
    confidences = own_label_confidences(transcript, alignment, own)
    np.testing.assert_allclose(confidences, transcript.speaker_confidences)  # e.g. 0.028 stays 0.028


def test_a_value_we_computed_that_fails_our_validation_is_never_written(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    ws = Workspace(store=store, settings=Settings.from_env({}))
    drifted = Turns.from_columns([0.0, 2.0], [1.0, 3.0], ["A", "B"], [1.0000000000000095, 0.5])
    with pytest.raises(InvalidDiarization, match=r"segments\[0\]\.confidence"):
        write_diarization(ws, "DRIFT1", "deepgram_fallback", DiarizerOutput(turns=drifted))
    assert list(store.list("")) == []
