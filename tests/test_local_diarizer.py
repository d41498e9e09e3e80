"""The offline diarizer on real speech: the shipped sample, re-cut podcast-like episodes, bad audio.

Needs the ``[local]`` extra and resemblyzer's weights (``pip install --no-deps
resemblyzer==0.1.4``); skipped otherwise. Deterministic: fixed thread counts
and seeds, so the DER figures below are exact for this machine's builds.
"""

from __future__ import annotations

import dataclasses
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

from diarflow.adapters.diarizers.base import DiarizationJob, Diarizer
from diarflow.adapters.diarizers.local import load_local_diarizer, local_diarizer_available
from diarflow.adapters.url_policy import InvalidUrl, UrlPolicy
from diarflow.config import Settings
from diarflow.domain.transcript import read_transcript
from diarflow.errors import DiarflowError, InvalidInput
from diarflow.orchestration.diarizers import STEP_NAMES
from tests import recut

pytestmark = pytest.mark.skipif(not local_diarizer_available(), reason="needs diarflow[local] and resemblyzer weights")

SAMPLES = recut.SAMPLES
SAMPLE_TRANSCRIPT = json.loads((SAMPLES / "sample.deepgram.json").read_text())


@pytest.fixture(scope="module")
def diarizer():  # type: ignore[no-untyped-def]
    return load_local_diarizer(threads=2)


def _der(reference: list[tuple[float, float, str]], turns) -> float:  # type: ignore[no-untyped-def]
    from diarflow.domain.diarization_metrics import diarization_scores

    names = turns.speaker_names
    hypothesis = [(s, e, names[k]) for s, e, k in zip(turns.starts, turns.ends, turns.speakers, strict=True)]
    return diarization_scores(reference, hypothesis, collar=0.0).der


def _run(diarizer, audio: str, transcript: dict[str, Any], **hints):  # type: ignore[no-untyped-def]
    return diarizer.diarize(DiarizationJob("E1", audio, read_transcript(transcript), **hints))


def test_is_a_diarizer(diarizer) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(diarizer, Diarizer)
    assert diarizer.source == "local"
    assert STEP_NAMES[diarizer.source] == "local-diarize-v1"  # the pipeline names the step, not the diarizer


def test_sample_two_speakers(diarizer) -> None:  # type: ignore[no-untyped-def]
    output = _run(diarizer, str(SAMPLES / "sample.wav"), SAMPLE_TRANSCRIPT)
    turns = output.turns
    assert turns.num_speakers == 2
    assert np.all((turns.confidences >= 0) & (turns.confidences <= 1))
    der = _der(recut.sample_reference(), turns)
    # Measured 11.1 % (miss 7.2, false alarm 1.8, confusion 2.1; exclusive 12.8 %); it was 19.4 %, then
    # 15.2 % before changes inside utterances had to be confirmed by the refinement windows. Not yet
    # the 10 %: the RTTM holds 1.9 s of overlapped speech (7.6 % of its speech), of which a
    # 0.44 s backchannel nobody transcribed, and GE2E hears the first "Hello?" (0.4 s) as the other
    # voice. Perfect one-speaker-at-a-time labels on this speech would still score 10.3 %; see
    # docs/local-diarizer.md for what the rest is and what was tried.
    assert der <= 0.12, der
    assert _der(recut.sample_reference(), output.exclusive) <= 0.135


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recut_podcast_turns(diarizer, tmp_path: Path, seed: int) -> None:  # type: ignore[no-untyped-def]
    episode = recut.build_episode(150, seed=seed)
    wav, _, _ = episode.write(tmp_path, f"recut{seed}")
    output = _run(diarizer, str(wav), episode.transcript)
    assert output.turns.num_speakers == 2
    assert _der(episode.reference, output.turns) <= 0.10


@pytest.mark.parametrize("seed", [21, 24])
def test_recut_with_overlapping_turn_changes(diarizer, tmp_path: Path, seed: int) -> None:  # type: ignore[no-untyped-def]
    # Half the turn changes overlap by 0.15-0.6 s (voices summed). These seeds once came out as
    # one speaker: mixed pieces at the changes blur the two clusters (see NEW_SPEAKER_SCORE).
    episode = recut.build_episode(150, seed=seed, overlap=0.5)
    wav, _, _ = episode.write(tmp_path, f"overlap{seed}")
    output = _run(diarizer, str(wav), episode.transcript)
    assert output.turns.num_speakers == 2
    assert _der(episode.reference, output.turns) <= 0.10
    # Both speakers are given around changes without a pause; the exclusive variant never overlaps.
    assert _overlap_seconds(output.turns) > 0
    assert _overlap_seconds(output.exclusive) == 0
    assert _der(episode.reference, output.turns) < _der(episode.reference, output.exclusive)


def _overlap_seconds(turns) -> float:  # type: ignore[no-untyped-def]
    total = 0.0
    for a in range(len(turns)):
        for b in range(a + 1, len(turns)):
            if turns.speakers[a] != turns.speakers[b]:
                total += max(0.0, min(turns.ends[a], turns.ends[b]) - max(turns.starts[a], turns.starts[b]))
    return total


def test_one_voice_is_one_speaker(diarizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    episode = recut.build_episode(90, seed=7, speakers=("Diane",))
    wav, _, _ = episode.write(tmp_path, "diane")
    output = _run(diarizer, str(wav), episode.transcript)
    assert output.turns.num_speakers == 1
    assert _der(episode.reference, output.turns) <= 0.10


def test_speaker_count_hint_is_obeyed(diarizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    episode = recut.build_episode(60, seed=4)
    wav, _, _ = episode.write(tmp_path, "hinted")
    assert _run(diarizer, str(wav), episode.transcript, num_speakers=3).turns.num_speakers == 3
    assert _run(diarizer, str(wav), episode.transcript, max_speakers=1).turns.num_speakers == 1


def test_deterministic(diarizer) -> None:  # type: ignore[no-untyped-def]
    first = _run(diarizer, str(SAMPLES / "sample.wav"), SAMPLE_TRANSCRIPT).turns.to_segments()
    second = _run(diarizer, str(SAMPLES / "sample.wav"), SAMPLE_TRANSCRIPT).turns.to_segments()
    assert first == second


def test_reads_compressed_formats(diarizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
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


def test_downloads_audio_over_http(diarizer, sample_server, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    base, requests = sample_server
    # Loopback is refused by default (SSRF guard): this test's server is the one place to allow it.
    settings = Settings.from_env({}, allow_private_urls=True)
    allowed = dataclasses.replace(diarizer, url_policy=UrlPolicy.from_settings(settings))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the download goes, to see it removed
    downloaded = _run(allowed, f"{base}/sample.wav?X-Amz-Signature=secret", SAMPLE_TRANSCRIPT)
    local = _run(allowed, str(SAMPLES / "sample.wav"), SAMPLE_TRANSCRIPT)
    assert requests == ["/sample.wav?X-Amz-Signature=secret"]
    assert downloaded.turns.num_speakers == 2
    assert downloaded.turns.to_segments() == local.turns.to_segments()
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []  # the temporary download is gone


def test_http_loopback_refused_by_default(diarizer, sample_server) -> None:  # type: ignore[no-untyped-def]
    base, requests = sample_server
    with pytest.raises(InvalidUrl, match="DIARFLOW_ALLOW_PRIVATE_URLS"):
        _run(diarizer, f"{base}/sample.wav", SAMPLE_TRANSCRIPT)
    assert requests == []  # refused before connecting


def test_http_error_status_is_reported(diarizer, sample_server) -> None:  # type: ignore[no-untyped-def]
    base, _ = sample_server
    allowed = dataclasses.replace(diarizer, url_policy=UrlPolicy(allow_private=True))
    with pytest.raises(InvalidInput, match="HTTP 404") as caught:
        _run(allowed, f"{base}/missing.wav?token=secret", SAMPLE_TRANSCRIPT)
    assert "secret" not in str(caught.value)  # a signed URL's query never reaches the message


# --- bad audio: a clear error or a clear empty result, never a traceback ------------------------


def test_missing_file(diarizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="file not found"):
        _run(diarizer, str(tmp_path / "nope.mp3"), SAMPLE_TRANSCRIPT)


def test_not_audio(diarizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "notes.mp3"
    path.write_text("this is not audio at all\n" * 50)
    with pytest.raises(InvalidInput, match=r"not a readable audio file|no audio stream|could not be decoded"):
        _run(diarizer, str(path), SAMPLE_TRANSCRIPT)


def test_zero_length_file(diarizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(InvalidInput, match="audio"):
        _run(diarizer, str(path), SAMPLE_TRANSCRIPT)


def test_zero_samples_wav(diarizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "header-only.wav"
    recut.write_wav(path, np.zeros(0, dtype=np.float32))
    output = _run(diarizer, str(path), SAMPLE_TRANSCRIPT)
    assert len(output.turns) == 0
    assert output.warnings
    assert "zero length" in output.warnings[0]


def test_silence_only(diarizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "silence.wav"
    recut.write_wav(path, np.zeros(16000 * 20, dtype=np.float32))
    output = _run(diarizer, str(path), SAMPLE_TRANSCRIPT)
    assert len(output.turns) == 0
    assert output.warnings
    assert "no speech" in output.warnings[0]


@pytest.mark.parametrize("url", ["ftp://example.com/a.mp3", "s3://bucket/a.mp3", "gopher://x/y"])
def test_unsupported_url_scheme(diarizer, url: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="unsupported URL scheme"):
        _run(diarizer, url, SAMPLE_TRANSCRIPT)


def test_no_audio_given(diarizer) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match="needs the episode's audio"):
        _run(diarizer, "", SAMPLE_TRANSCRIPT)


def test_errors_are_diarflow_errors(diarizer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "garbage.ogg"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(DiarflowError):
        _run(diarizer, str(path), SAMPLE_TRANSCRIPT)


# --- cheap imports -----------------------------------------------------------------------------


def test_import_diarflow_does_not_load_heavy_modules() -> None:
    code = (
        "import sys, diarflow, diarflow.adapters.diarizers.local as local;"
        "local.local_diarizer_available();"
        "heavy = ('torch', 'onnxruntime', 'av', 'scipy', 'resemblyzer', 'librosa');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
