"""Two-track recordings (a microphone per person) built from real speech with a reference, and their transcripts.

A mono recording with a reference RTTM becomes a two-track one: each track
holds the mono audio only inside its own speaker's reference turns (so the
reference's overlaps are heard on both tracks, as crosstalk is), a faint noise
floor elsewhere, and optionally the other track leaking in ``bleed_db`` below
(the other person heard on this microphone). The matching Deepgram response
is ``multichannel=true``-shaped: each word goes to the track of the reference
speaker it overlaps most, and Deepgram's per-channel diarization calls every
track's only voice speaker 0.

Used by ``tests/test_channels_diarizer.py`` and ``benchmarks/bench_channels_diarizer.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tests import recut

RATE = recut.RATE
SAMPLE_SPEAKERS = ("speaker90", "speaker91")
"""The sample's reference speakers (Diane, Sheila), on tracks 0 and 1."""
NOISE_FLOOR_DB = -70.0
"""dBFS of the white noise each track carries (a microphone's self-noise): no track is digital silence."""
FADE_SECONDS = 0.005
UTTERANCE_PAUSE = 0.8
"""Deepgram's default utterance split (``utt_split``)."""


@dataclass
class TwoTrack:
    """``audio`` is (2, samples) float32; ``reference`` the turns ``(start, end, speaker)``; a Deepgram response."""

    audio: NDArray[np.float32]
    reference: list[tuple[float, float, str]]
    transcript: dict[str, Any]

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        """Write ``name.wav`` (16-bit stereo) and ``name.deepgram.json``; return their paths."""
        folder.mkdir(parents=True, exist_ok=True)
        wav = folder / f"{name}.wav"
        recut.write_wav(wav, self.audio)
        transcript = folder / f"{name}.deepgram.json"
        transcript.write_text(json.dumps(self.transcript))
        return wav, transcript


def split_tracks(
    audio: NDArray[np.float32],
    reference: list[tuple[float, float, str]],
    speakers: tuple[str, ...],
    *,
    bleed_db: float | None = None,
    offset: float = 0.0,
    seed: int = 0,
) -> NDArray[np.float32]:
    """(len(speakers), samples): track ``k`` is ``audio`` inside speaker ``k``'s reference turns.

    ``offset``: seconds from the start of ``audio`` to time 0 of ``reference`` (for building long files block by block).
    """
    own = np.zeros((len(speakers), audio.size), dtype=np.float32)
    fade = max(1, round(FADE_SECONDS * RATE))
    for start, end, speaker in reference:
        if speaker not in speakers:
            continue
        a = max(0, round((start - offset) * RATE))
        b = min(audio.size, round((end - offset) * RATE))
        if b <= a:
            continue
        piece = audio[a:b].copy()
        ramp = np.linspace(0.0, 1.0, min(fade, piece.size // 2 or 1), dtype=np.float32)
        piece[: ramp.size] *= ramp
        piece[piece.size - ramp.size :] *= ramp[::-1]
        own[speakers.index(speaker), a:b] = piece
    tracks = own.copy()
    if bleed_db is not None:
        leak = np.float32(10 ** (bleed_db / 20))
        for k in range(len(speakers)):
            tracks[k] += leak * (own.sum(axis=0) - own[k])
    rng = np.random.default_rng(seed)
    tracks += rng.normal(0.0, 10 ** (NOISE_FLOOR_DB / 20), tracks.shape).astype(np.float32)
    return tracks


def split_transcript(
    words: list[dict[str, Any]],
    reference: list[tuple[float, float, str]],
    speakers: tuple[str, ...],
    duration: float,
) -> dict[str, Any]:
    """A multichannel Deepgram response: each word on the track of the reference speaker it overlaps most."""
    channels: list[list[dict[str, Any]]] = [[] for _ in speakers]
    for word in words:
        channels[speakers.index(reference_speaker(word, reference, speakers))].append(
            {**word, "speaker": 0, "speaker_confidence": 0.9}
        )
    utterances: list[dict[str, Any]] = []
    for channel, own in enumerate(channels):
        group: list[dict[str, Any]] = []
        for entry in [*own, None]:
            if group and (entry is None or entry["start"] - group[-1]["end"] >= UTTERANCE_PAUSE):
                utterances.append(
                    {
                        "id": f"utt-{len(utterances)}",
                        "start": group[0]["start"],
                        "end": group[-1]["end"],
                        "confidence": 0.95,
                        "channel": channel,
                        "transcript": " ".join(w.get("punctuated_word") or w["word"] for w in group),
                        "words": list(group),
                        "speaker": 0,
                    }
                )
                group = []
            if entry is not None:
                group.append(entry)
    utterances.sort(key=lambda u: (u["start"], u["channel"]))
    return {
        "metadata": {"request_id": "two-track", "duration": round(duration, 3), "channels": len(speakers)},
        "results": {
            "channels": [{"alternatives": [{"transcript": "", "confidence": 0.95, "words": own}]} for own in channels],
            "utterances": utterances,
        },
    }


def reference_speaker(
    word: dict[str, Any], reference: list[tuple[float, float, str]], speakers: tuple[str, ...]
) -> str:
    """The speaker whose reference turns cover most of the word (the nearest turn's for a word in a gap)."""
    start, end = float(word["start"]), float(word["end"])
    overlap = dict.fromkeys(speakers, 0.0)
    distance = dict.fromkeys(speakers, np.inf)
    for a, b, speaker in reference:
        if speaker in overlap:
            overlap[speaker] += max(0.0, min(b, end) - max(a, start))
            distance[speaker] = min(distance[speaker], max(a - end, start - b, 0.0))
    if max(overlap.values()) > 0:
        return max(speakers, key=overlap.__getitem__)
    return min(speakers, key=distance.__getitem__)


def sample_two_track(*, bleed_db: float | None = None) -> TwoTrack:
    """The shipped 30 s sample as a two-track interview: Diane (speaker90) on track 0, Sheila on track 1."""
    audio = recut.read_sample_audio()
    reference = recut.sample_reference()
    document = json.loads((recut.SAMPLES / "sample.deepgram.json").read_text())
    words = document["results"]["channels"][0]["alternatives"][0]["words"]
    tracks = split_tracks(audio, reference, SAMPLE_SPEAKERS, bleed_db=bleed_db)
    transcript = split_transcript(words, reference, SAMPLE_SPEAKERS, audio.size / RATE)
    return TwoTrack(tracks, reference, transcript)
