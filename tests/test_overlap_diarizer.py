"""The offline diarizer (segmentation-3.0 + CAM++) on real speech from the audio alone, and ``diarflow diarize``.

How the pipeline runs it (a job with the episode's transcript, audio over http(s)) is in test_local_diarizer.py.
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np
import orjson
import pytest

from diarflow.adapters.diarizers.base import DiarizationJob
from diarflow.adapters.diarizers.local.audio import stream_audio
from diarflow.adapters.diarizers.local.overlap import (
    WINDOW_SECONDS,
    OverlapAwareDiarizer,
    decide,
    load_overlap_diarizer,
)
from diarflow.contracts import ClusterEmbeddings
from diarflow.contracts.voiceprints import LOCAL_VOICEPRINT_MODEL
from diarflow.domain.diarization_metrics import diarization_scores, parse_rttm, turns_from_segments
from diarflow.domain.frames import SlidingWindows
from diarflow.domain.reconstruction import speaker_frames
from diarflow.domain.transcript import parse_transcript
from diarflow.domain.turns import Turns
from diarflow.domain.window_clustering import ClusteringOptions
from tests.recut import SAMPLE_DER_CEILING, build_episode, sample_reference
from tests.reliability import diarflow_cli

SAMPLES = resources.files("diarflow.samples")


@pytest.fixture(scope="module")
def diarizer() -> OverlapAwareDiarizer:
    return load_overlap_diarizer(threads=2)


@pytest.fixture(scope="module")
def sample_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "sample.wav"
    path.write_bytes((SAMPLES / "sample.wav").read_bytes())
    return path


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def test_the_sample_is_diarized_from_the_audio_alone_given_its_speaker_count(
    diarizer: OverlapAwareDiarizer, sample_wav: Path
) -> None:
    """Segmentation, embeddings and reconstruction; counting speakers is measured apart (docs/local-diarizer.md)."""
    output = diarizer.diarize_file(sample_wav, num_speakers=2)
    scores = diarization_scores(sample_reference(), turns_from_segments(output.turns.to_segments()))
    assert scores.hypothesis_speakers == 2
    assert scores.der < SAMPLE_DER_CEILING, scores
    exclusive = output.exclusive
    assert exclusive is not None
    assert (exclusive.starts[1:] >= np.maximum.accumulate(exclusive.ends)[:-1] - 1e-9).all()  # one at a time
    assert ((output.turns.confidences >= 0) & (output.turns.confidences <= 1)).all()
    assert output.turns.ends.max() <= 30.0001


def test_the_samples_two_voices_are_counted_from_the_audio_alone(
    diarizer: OverlapAwareDiarizer, sample_wav: Path
) -> None:
    """Two voices on one line meet at cosine ~0.55: the meeting-tuned threshold alone merged them (DER 50 %)."""
    output = diarizer.diarize_file(sample_wav)
    scores = diarization_scores(sample_reference(), turns_from_segments(output.turns.to_segments()))
    assert scores.hypothesis_speakers == 2
    assert scores.der < SAMPLE_DER_CEILING, scores


def test_a_given_speaker_count_is_honoured(diarizer: OverlapAwareDiarizer, sample_wav: Path) -> None:
    for count in (1, 3):
        assert diarizer.diarize_file(sample_wav, num_speakers=count).turns.num_speakers == count


def test_every_window_of_a_long_file_is_heard_once_in_order(diarizer: OverlapAwareDiarizer, tmp_path: Path) -> None:
    """The streaming chunks cut exactly the windows SlidingWindows plans, the last flush with the end."""
    seconds = 187.3
    rng = np.random.default_rng(0)
    path = write_wav(tmp_path / "noise.wav", rng.normal(0, 0.05, int(seconds * 16_000)))
    starts = [start for chunk in diarizer._chunks(stream_audio(path), None) for start in chunk.window_starts_seconds]
    planned = SlidingWindows(WINDOW_SECONDS, diarizer.step).starts(seconds)
    np.testing.assert_allclose(starts, planned, atol=1 / 16_000)


@pytest.mark.parametrize("seconds", [0.0, 0.4, 6.0])
def test_silence_and_short_files_give_no_turns_or_a_few(
    diarizer: OverlapAwareDiarizer, tmp_path: Path, seconds: float
) -> None:
    path = write_wav(tmp_path / "quiet.wav", np.zeros(int(seconds * 16_000)))
    output = diarizer.diarize_file(path)
    assert len(output.turns) == 0
    assert output.warnings  # says why there is nothing
    assert ("zero length" if seconds == 0 else "no speech found") in output.warnings[0]


# --- diarflow diarize ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_outputs(sample_wav: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    folder = tmp_path_factory.mktemp("diarize")
    rttm = diarflow_cli("diarize", str(sample_wav), "--quiet", timeout=300)
    as_json = diarflow_cli(
        "diarize", str(sample_wav), "--num-speakers", "2", "--out", str(folder / "sample.json"), timeout=300
    )
    return {"rttm": rttm, "json": as_json, "json_path": folder / "sample.json"}


def test_diarize_prints_rttm_that_scorers_read(cli_outputs: dict[str, object]) -> None:
    done = cli_outputs["rttm"]
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    turns = parse_rttm(done.stdout)  # type: ignore[attr-defined]
    assert {line.split()[1] for line in done.stdout.splitlines()} == {"sample"}  # type: ignore[attr-defined]
    assert diarization_scores(sample_reference(), turns).der < SAMPLE_DER_CEILING


def test_diarize_writes_json_with_overlapping_and_exclusive_turns(cli_outputs: dict[str, object]) -> None:
    done = cli_outputs["json"]
    assert done.returncode == 0, done.stderr  # type: ignore[attr-defined]
    assert "2 speakers" in done.stderr  # type: ignore[attr-defined]
    document = orjson.loads(Path(str(cli_outputs["json_path"])).read_bytes())
    turns = Turns.from_segments(document["segments"])
    exclusive = Turns.from_segments(document["exclusive_segments"])
    assert turns.num_speakers == exclusive.num_speakers == 2
    assert "segmentation-3.0" in document["model"]
    # Each voice's embedding, of the voiceprints' model (test_identify_pipeline names people from them).
    # The sample's two voices share one telephone line and meet at ~0.6; one voice's halves score ~0.9.
    voices = ClusterEmbeddings.model_validate(document["cluster_embeddings"])
    assert voices.model == LOCAL_VOICEPRINT_MODEL
    assert set(voices.speakers) == set(turns.speaker_names)
    first, second = (np.array(vector) for vector in voices.speakers.values())
    assert first.size == second.size == 192
    assert np.linalg.norm(first) == pytest.approx(1.0, abs=1e-5)
    assert float(first @ second) < 0.8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such.wav"], "audio: file not found"),
        (["{sample}", "--out", "x.txt"], "--out: x.txt: write a .rttm or a .json file"),
        (["{sample}", "--min-speakers", "3", "--max-speakers", "2"], "min_speakers: 3 is above max_speakers 2"),
        (["{sample}", "--transcript", "/no/such.json"], "--transcript: /no/such.json does not exist"),
    ],
)
def test_diarize_refuses_bad_usage_with_exit_2(args: list[str], message: str, sample_wav: Path) -> None:
    done = diarflow_cli("diarize", *(a.format(sample=sample_wav) for a in args), "--quiet")
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_diarize_draws_speech_where_a_given_transcripts_words_are(sample_wav: Path, tmp_path: Path) -> None:
    words = orjson.loads((SAMPLES / "sample.deepgram.json").read_bytes())["results"]["channels"][0]["alternatives"][0]
    first, last = words["words"][0]["start"], words["words"][-1]["end"]
    done = diarflow_cli(
        "diarize", str(sample_wav), "--transcript", str(SAMPLES / "sample.deepgram.json"), "--quiet", timeout=300
    )
    assert done.returncode == 0, done.stderr
    turns = parse_rttm(done.stdout)
    assert min(start for start, _, _ in turns) >= first - 0.02
    assert max(end for _, end, _ in turns) <= last + 0.02
    assert diarization_scores(sample_reference(), turns).der < SAMPLE_DER_CEILING
    bad = tmp_path / "bad.json"
    bad.write_text('{"words": [{"word": "a", "start": 2, "end": 1}]}')
    refused = diarflow_cli("diarize", str(sample_wav), "--transcript", str(bad), "--quiet")
    assert refused.returncode == 2
    assert "words[0].end: 1.0 is before start 2.0" in refused.stderr


def test_a_transcripts_words_bound_speech_on_a_podcast_like_episode(
    diarizer: OverlapAwareDiarizer, tmp_path: Path
) -> None:
    """An episode re-cut unlike the tuning sets (long turns, seed 40): the words remove most false alarm."""
    episode = build_episode(150.0, seed=40, long_turns=0.6)
    audio, _, transcript_path = episode.write(tmp_path, "held-out")
    transcript = parse_transcript(transcript_path.read_bytes())
    job = DiarizationJob("EP1", str(audio), transcript)
    with_words = diarizer.diarize(job)
    audio_alone = decide(diarizer.hear(audio), ClusteringOptions())
    reference = list(episode.reference)
    bounded = diarization_scores(reference, turns_from_segments(with_words.turns.to_segments()))
    heard = diarization_scores(reference, turns_from_segments(audio_alone.turns.to_segments()))
    assert bounded.hypothesis_speakers == heard.hypothesis_speakers == 2
    assert bounded.false_alarm < heard.false_alarm / 2, (bounded, heard)  # measured 0.1 % against 2.5 %
    assert bounded.der < heard.der, (bounded, heard)
    assert bounded.der < 0.03, bounded


def test_pieces_are_cut_from_the_final_voice_count_across_chunks(
    diarizer: OverlapAwareDiarizer, tmp_path: Path
) -> None:
    """Pieces are cut chunk by chunk as the audio streams in; each lies where the whole episode's windows
    hear one voice, none overlap, and together they reach the end (130 s: three chunks)."""
    from diarflow.adapters.models.segmentation import FRAMES
    from diarflow.domain.voice_pieces import MIN_PIECE_SECONDS, PIECE_SECONDS
    from diarflow.domain.window_clustering import assign_speakers

    episode = build_episode(130.0, seed=3)
    audio, _, _ = episode.write(tmp_path, "pieces")
    heard = diarizer.hear(audio)
    pieces = heard.pieces()
    assert len(heard.activity) == 3
    assert heard.pieces_until == heard.frames
    assert len(pieces) > 40
    assert np.all(pieces.first[1:] >= pieces.stop[:-1])
    lengths = (pieces.stop - pieces.first) * FRAMES.step
    assert lengths.min() >= MIN_PIECE_SECONDS - FRAMES.step
    assert lengths.max() <= PIECE_SECONDS + FRAMES.step
    assignment = assign_speakers(heard.speakers(), heard.windows, 3)
    count = speaker_frames(heard.batches(assignment), heard.frames, assignment.num_speakers).count
    for first, stop in zip(pieces.first.tolist(), pieces.stop.tolist(), strict=True):
        assert np.all(count[first:stop] == 1)


def test_the_vad_scores_the_same_decode_and_its_sure_silence_is_nobody_speaking(
    diarizer: OverlapAwareDiarizer, sample_wav: Path
) -> None:
    """One probability per 32 ms of the audio; where all of them are ~0, no turn survives."""
    import math
    from dataclasses import replace as replaced

    from diarflow.adapters.diarizers.local.overlap import decide
    from diarflow.domain.window_clustering import ClusteringOptions

    heard = diarizer.hear(sample_wav)
    assert heard.speech_probabilities is not None
    assert heard.speech_probabilities.size == math.ceil(30.0 / 0.032)
    assert len(decide(heard, ClusteringOptions()).turns) > 0
    quiet = replaced(heard, speech_probabilities=np.zeros_like(heard.speech_probabilities))
    assert len(decide(quiet, ClusteringOptions()).turns) == 0


def test_the_last_seconds_are_heard_when_the_flush_window_would_start_in_audio_already_let_go(
    diarizer: OverlapAwareDiarizer, tmp_path: Path
) -> None:
    """61 s: a chunk's windows end at 60 s and SlidingWindows' flush (51 s) starts before the buffer kept."""
    rng = np.random.default_rng(1)
    path = write_wav(tmp_path / "noise61.wav", rng.normal(0, 0.05, 61 * 16_000))
    chunks = list(diarizer._chunks(stream_audio(path), None))
    last_end = max(start + WINDOW_SECONDS for chunk in chunks for start in chunk.window_starts_seconds)
    assert last_end >= 61.0
    assert chunks[-1].last
