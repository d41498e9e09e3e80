"""Tune the local diarizer on the AMI train split only; check the choice on development.

Each train clip is decoded and scored by the VAD once, then heard once per
window step and onset (segmentation and embeddings, the costly part), then
every clustering setting is tried on what was heard (both count passes:
threshold and min speech over every embedding, reliable speech and reliable
threshold over the reliable ones; see :mod:`diarflow.domain.window_clustering`).
Two objectives, averaged: DER over the ten 30 s clips (as a set), and DER over
five one-minute files, each two consecutive clips end to end — a 30 s clip
alone says little about how many people a longer episode holds (tuned on clips
alone, counting over-merges), and the ten clips together hold more people (29)
than the diarizer counts to (10). The test split is never read here.

A 30 s clip's DER moves by points with where the 10 s windows fall on its speech;
``--alignments`` hears every clip again after that many seconds of silence and
takes the clips' objective as the mean over the alignments, so a setting that
wins by the luck of one alignment does not win here.

Run: ``.venv/bin/python benchmarks/tune_local.py [--steps 1 2.5 5] [--onsets 0.25 0.3 0.35]
[--alignments 0 0.625 1.25 1.875] [--data DIR]``
after ``make eval-data``. The two models are loaded once; each (step, onset) is a copy of that diarizer.
Prints every setting's figures, the best on train, and that setting on development.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from tests.recut import write_wav  # noqa: E402

from bench_diarization import BenchClip  # noqa: E402
from bench_diarization import delayed as bench_delayed  # noqa: E402
from diarflow.adapters.audio_format import SAMPLE_RATE  # noqa: E402
from diarflow.adapters.diarizers.local.audio import stream_audio  # noqa: E402
from diarflow.adapters.diarizers.local.overlap import (  # noqa: E402
    Heard,
    OverlapAwareDiarizer,
    decide,
    load_overlap_diarizer,
)
from diarflow.domain.diarization_metrics import DiarizationScorer, Span, Turn, turns_from_segments  # noqa: E402
from diarflow.domain.window_clustering import ClusteringOptions  # noqa: E402
from diarflow.eval_data import DEFAULT_ROOT, EvalClip, load_split, wav_duration  # noqa: E402

THRESHOLDS = (0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65)
MIN_SPEECH = (0.5, 1.0, 2.0, 3.0)
RELIABLE_SPEECH = (1.5, 2.0, 3.0)
RELIABLE_THRESHOLDS = (0.3, 0.35, 0.4)


@dataclass(frozen=True)
class Scored:
    """A file to score: its reference, UEM and what the diarizer heard."""

    reference: tuple[Turn, ...]
    uem: tuple[Span, ...]
    heard: Heard


@dataclass(frozen=True)
class Decoded:
    """A file and what every (step, onset) hears the same in it: its decode and the VAD's speech probabilities."""

    clip: EvalClip
    blocks: tuple[np.ndarray, ...]
    speech: NDArray[np.float32]

    @classmethod
    def of(cls, clip: EvalClip, diarizer: OverlapAwareDiarizer) -> Decoded:
        """Decode ``clip`` and score it with ``diarizer``'s VAD (as its ``hear`` does)."""
        blocks = tuple(stream_audio(clip.audio))
        for block in blocks:
            block.setflags(write=False)  # shared by every setting's hearing
        diarizer.vad.reset()
        for block in blocks:
            diarizer.vad.push(block)
        return cls(clip, blocks, diarizer.vad.finish())

    def hear(self, diarizer: OverlapAwareDiarizer) -> Scored:
        """What ``diarizer`` hears in the file (``diarizer.hear(self.clip.audio)`` without decoding it again)."""
        heard = diarizer.hear_decoded(self.blocks, speech_probabilities=self.speech)
        return Scored(self.clip.reference, self.clip.uem, heard)


def delayed(clip: EvalClip, seconds: float, folder: Path) -> EvalClip:
    """``clip`` after ``seconds`` of silence, its reference and UEM moved with it (the benchmark's sets' way)."""
    as_bench = BenchClip(clip.clip_id, clip.audio, wav_duration(clip.audio), clip.reference, clip.uem)
    moved = bench_delayed(as_bench, seconds, folder)
    return EvalClip(moved.clip_id, moved.audio, moved.reference, moved.uem)


def end_to_end(clips: Sequence[Decoded], folder: Path) -> EvalClip:
    """The clips one after another in one WAV, references and UEMs shifted by each clip's offset."""
    name = "+".join(decoded.clip.clip_id for decoded in clips)
    path = folder / f"{name}.wav"
    reference: list[Turn] = []
    uem: list[Span] = []
    pieces: list[np.ndarray] = []
    offset = 0.0
    for decoded in clips:
        clip = decoded.clip
        samples = np.concatenate(decoded.blocks)  # the clips are float WAVs: decoded, then 16-bit
        pieces.append(samples)
        reference += [(start + offset, end + offset, who) for start, end, who in clip.reference]
        uem += [(start + offset, end + offset) for start, end in clip.uem]
        offset += samples.size / SAMPLE_RATE
    write_wav(path, np.concatenate(pieces))
    return EvalClip(name, path, tuple(reference), tuple(uem))


def der(files: list[Scored], options: ClusteringOptions) -> tuple[float, float]:
    """Total DER over ``files`` and the share of them whose speaker count is right."""
    scorer = DiarizationScorer(collar=0.0)
    right = 0
    for file in files:
        hypothesis = turns_from_segments(decide(file.heard, options).turns.to_segments())
        scores = scorer.score(list(file.reference), hypothesis, uem=list(file.uem))
        right += scores.reference_speakers == scores.hypothesis_speakers
    return scorer.total().der, right / len(files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=float, nargs="+", default=[1.0, 2.5, 5.0])
    parser.add_argument("--onsets", type=float, nargs="+", default=[0.25, 0.3, 0.35])
    parser.add_argument(
        "--alignments", type=float, nargs="+", default=[0.0], help="seconds of silence before each clip (mean of all)"
    )
    parser.add_argument("--data", type=Path, default=ROOT / DEFAULT_ROOT, help="eval-data folder (make eval-data)")
    args = parser.parse_args()
    train = load_split("train", args.data)
    development = load_split("development", args.data)
    base = load_overlap_diarizer()
    best: tuple[float, float, float, ClusteringOptions] | None = None
    with tempfile.TemporaryDirectory() as folder:
        decoded = [Decoded.of(clip, base) for clip in train]
        aligned = [
            [Decoded.of(delayed(clip, seconds, Path(folder)), base) for clip in train] if seconds else decoded
            for seconds in args.alignments
        ]
        pairs = [end_to_end(decoded[i : i + 2], Path(folder)) for i in range(0, len(decoded), 2)]
        decoded_pairs = [Decoded.of(pair, base) for pair in pairs]
        for step, onset in itertools.product(args.steps, args.onsets):
            diarizer = dataclasses.replace(base, step=step, onset=onset)
            alignments = [[file.hear(diarizer) for file in files] for files in aligned]
            joined = [file.hear(diarizer) for file in decoded_pairs]
            print(
                f"step {step:g} s, onset {onset:g}: threshold, min speech, reliable speech, reliable threshold"
                " -> clips DER (count right) | pairs DER"
            )
            settings = itertools.product(THRESHOLDS, MIN_SPEECH, RELIABLE_SPEECH, RELIABLE_THRESHOLDS)
            for threshold, min_speech, reliable_speech, reliable_threshold in settings:
                options = ClusteringOptions(
                    threshold=threshold,
                    min_speech=min_speech,
                    reliable_speech=reliable_speech,
                    reliable_threshold=reliable_threshold,
                )
                clips_der, clips_right = np.mean([der(clips, options) for clips in alignments], axis=0)
                joined_der, joined_right = der(joined, options)
                objective = (clips_der + joined_der) / 2
                print(
                    f"  {threshold:.2f} {min_speech:3.1f} {reliable_speech:3.1f} {reliable_threshold:.2f} -> "
                    f"{clips_der:6.1%} ({clips_right:4.0%}) | "
                    f"{joined_der:6.1%} ({joined_right:4.0%})  objective {objective:6.1%}",
                    flush=True,
                )
                if best is None or objective < best[0]:
                    best = (objective, step, onset, options)
    assert best is not None
    objective, step, onset, options = best
    print(
        f"best on train: step {step:g} s, onset {onset:g}, threshold {options.threshold}, "
        f"min speech {options.min_speech} s, reliable speech {options.reliable_speech} s, "
        f"reliable threshold {options.reliable_threshold} (objective {objective:.1%})"
    )
    diarizer = dataclasses.replace(base, step=step, onset=onset)
    held_out = [Decoded.of(clip, base).hear(diarizer) for clip in development]
    development_der, development_right = der(held_out, options)
    print(f"development with that setting: DER {development_der:.1%}, speaker count right on {development_right:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
