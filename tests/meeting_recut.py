"""Podcast-like episodes with three or four voices, re-cut from the meeting clips' solo speech.

The re-cut episodes of :mod:`tests.recut` hold the sample's two voices only; a
diarizer tuned on them could still miscount three or four people. Here each
turn is spliced from one AMI speaker's *solo* speech (the reference marks
nobody else there), with a level that drifts between turns and quiet noise in
the pauses, so the reference is exact. The transcript's words are the chunks
cut into pieces of about a third of a second (the meeting clips have no
words), so a diarizer reading it is told where speech is, as with a real
transcript, and nothing about who speaks (Deepgram-shaped, speakers noisy, as
in :mod:`tests.recut`).

Two pools of voices that share nobody: :data:`TUNING_VOICES` (train speakers,
each from one meeting) for the benchmark's ``meeting-voices`` set, which
choices may be made on, and :data:`HELD_OUT_VOICES` (the development
meeting's two speakers and two train speakers no tuning episode holds) for
``recut-meeting-voices``, which is never tuned on. No test-split voice is
used.

Deterministic for a given seed.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from diarflow.domain.frames import run_edges
from diarflow.eval_data import EvalClip, load_split
from tests.recut import RATE, Episode, Timeline, lay_turns

MIN_CHUNK_SECONDS = 0.8
"""Solo runs shorter than this are left out: a turn is built of whole runs."""
MAX_CHUNK_FRAMES = 300
"""Longer solo runs are cut into equal chunks of at most 3 s (in 10 ms frames): turns change as in a podcast."""
TUNING_VOICES: dict[str, tuple[str, ...]] = {
    "MÉO069": ("trn03",),
    "FEE078": ("trn05",),
    "MEE068": ("trn00",),
    "MEE075": ("trn04",),
    "FEE083": ("trn06",),
}
"""Speaker -> the clips (one meeting each) its solo speech is taken from."""
HELD_OUT_VOICES: dict[str, tuple[str, ...]] = {
    "MEE009": ("dev00", "dev01"),
    "MEE012": ("dev00", "dev01"),
    "FEE087": ("trn07",),
    "FEE088": ("trn08",),
}
NOISE_LEVEL = 1e-3
"""RMS of the noise in the pauses (-60 dBFS): the meeting clips' own pauses may hold unmarked speech."""
WORD_SECONDS = 0.33


@dataclass(frozen=True)
class Chunk:
    speaker: str
    audio: NDArray[np.float32]


def solo_chunks(clips: Sequence[EvalClip]) -> dict[str, list[Chunk]]:
    """Every run of at least :data:`MIN_CHUNK_SECONDS` where one speaker speaks alone (inside the UEM), by speaker,
    cut into chunks of at most 3 s."""
    from diarflow.adapters.speaker_embedding import decode_clip

    chunks: dict[str, list[Chunk]] = {}
    for clip in clips:
        samples = decode_clip(clip.audio)
        grid = np.arange(samples.size // 160) * 0.01 + 0.005  # 10 ms frames
        scored = np.zeros(grid.size, dtype=bool)
        for start, end in clip.uem:
            scored |= (grid >= start) & (grid < end)
        talking: dict[str, NDArray[np.bool_]] = {}
        for start, end, speaker in clip.reference:
            talking.setdefault(speaker, np.zeros(grid.size, dtype=bool))
            talking[speaker] |= (grid >= start) & (grid < end)
        count = np.sum(list(talking.values()), axis=0)
        for speaker, mask in talking.items():
            for first, stop in zip(*run_edges(mask & (count == 1) & scored), strict=True):
                if (stop - first) * 0.01 < MIN_CHUNK_SECONDS:
                    continue
                parts = -(-(stop - first) // MAX_CHUNK_FRAMES)  # equal parts, none longer than the cap
                cuts = np.linspace(first, stop, parts + 1).round().astype(int)
                for a, b in itertools.pairwise(cuts):
                    chunks.setdefault(speaker, []).append(Chunk(speaker, samples[a * 160 : b * 160].copy()))
    return chunks


def voice_pool(root: Path, voices: Mapping[str, tuple[str, ...]]) -> dict[str, list[Chunk]]:
    """Each of ``voices``' solo chunks from its clips (train and development splits)."""
    clips = {clip.clip_id: clip for split in ("train", "development") for clip in load_split(split, root)}
    needed = dict.fromkeys(clip_id for clip_ids in voices.values() for clip_id in clip_ids)
    by_clip = {clip_id: solo_chunks([clips[clip_id]]) for clip_id in needed}  # each clip decoded once
    return {
        speaker: [c for clip_id in clip_ids for c in by_clip[clip_id].get(speaker, [])]
        for speaker, clip_ids in voices.items()
    }


def build_episode(pool: dict[str, list[Chunk]], duration: float, *, seed: int, voices: int) -> Episode:
    """About ``duration`` seconds of turns by ``voices`` speakers of ``pool``; turns of 1–5 s (a third 5–12 s)."""
    rng = np.random.default_rng(seed)
    names = sorted(rng.choice(sorted(pool), size=voices, replace=False).tolist())
    timeline = Timeline()

    def add_pause(seconds: float) -> None:
        count = round(seconds * RATE)
        timeline.pieces.append((rng.standard_normal(count) * NOISE_LEVEL).astype(np.float32))
        timeline.cursor += count / RATE

    def splice(chunk: Chunk, gain: float) -> tuple[Chunk, NDArray[np.float32], float]:
        return chunk, chunk.audio * gain, chunk.audio.size / RATE

    def mark(chunk: Chunk, start: float, seconds: float) -> None:
        timeline.reference.append((start, start + seconds, chunk.speaker))
        edges = np.linspace(start, start + seconds, max(1, round(seconds / WORD_SECONDS)) + 1)
        for a, b in itertools.pairwise(edges):
            timeline.words.append({"token": f"w{len(timeline.words)}", "start": a, "end": b, "speaker": chunk.speaker})

    add_pause(rng.uniform(0.5, 2.0))
    first = int(rng.integers(voices))
    lay_turns(timeline, names, pool, first, duration, rng, pause=add_pause, splice=splice, mark=mark, long_turns=1 / 3)
    # A speaker's consecutive chunks are one turn across the short pauses inside it (as annotators mark turns).
    return timeline.episode(names, rng, speakers=set(names))
