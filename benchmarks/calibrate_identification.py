"""Calibrate the identification threshold and margin on the shipped sample's real speech.

Method (docs/identification.md): the sample's transcribed lines, with the
parts where the other voice overlaps cut away, are split at random per speaker
into *enrolment* lines and *test* lines. Each speaker's enrolment lines make one
voiceprint, their test lines one "cluster" (both concatenated, embedded as the
pipeline embeds them). Over many splits this gives same-speaker and
different-speaker cosine scores, and runs the real decision
(:func:`~diarflow.domain.identification.identify_clusters`) in four situations:

* both speakers enrolled, both present: each cluster must get its own name;
* one speaker enrolled, both present: the other cluster must stay unnamed;
* one speaker present, both enrolled (a monologue): named correctly;
* one speaker present, only the other enrolled: must stay unnamed (the open-set case).

Run: ``.venv/bin/python benchmarks/calibrate_identification.py [--splits 40]``
(needs ``diarflow[local]`` and resemblyzer's weights).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import recut  # noqa: E402

from diarflow.adapters.speaker_embedding import ClipEmbedder  # noqa: E402
from diarflow.domain.identification import identify_clusters  # noqa: E402

RATE = recut.RATE


def speaker_lines() -> dict[str, list[tuple[float, float]]]:
    """Each speaker's lines of the sample without the overlapped parts."""
    reference = recut.sample_reference()
    lines: dict[str, list[tuple[float, float]]] = {}
    for line in recut.sample_lines():
        cleaned = recut._clean(reference, line)
        if cleaned is not None:
            lines.setdefault(cleaned.speaker, []).append((cleaned.start, cleaned.end))
    return lines


def clip(audio: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    return np.concatenate([audio[round(a * RATE) : round(b * RATE)] for a, b in spans])


def collect(splits: int, share: float, seed: int) -> list[np.ndarray]:
    """One (2 clusters x 2 voiceprints) score matrix per split; row/column i is the same speaker."""
    embedder = ClipEmbedder.load(threads=2)
    audio = recut.read_sample_audio()
    lines = speaker_lines()
    names = sorted(lines)
    rng = np.random.default_rng(seed)
    matrices = []
    for _ in range(splits):
        enrol, test = [], []
        for name in names:
            spans = lines[name]
            order = rng.permutation(len(spans))
            k = max(1, round(len(spans) * share))
            enrol.append(clip(audio, [spans[i] for i in sorted(order[:k])]))
            test.append(clip(audio, [spans[i] for i in sorted(order[k:])]))
        vectors = embedder.embed_many(enrol + test)
        matrices.append(vectors[2:] @ vectors[:2].T)
    return matrices


def evaluate(matrices: list[np.ndarray], threshold: float, margin: float) -> dict[str, float]:
    """Error rates of the decision in the four situations (see the module docstring)."""
    named_right = named_wrong = 0
    one_enrolled_ok = one_enrolled_false = 0
    mono_ok = 0
    open_set_false = 0
    for scores in matrices:
        for d in identify_clusters(scores, threshold=threshold, margin=margin).decisions:
            named_right += d.reference == d.cluster
            named_wrong += d.reference is not None and d.reference != d.cluster
        for keep in (0, 1):
            for d in identify_clusters(scores[:, [keep]], threshold=threshold, margin=margin).decisions:
                if d.cluster == keep:
                    one_enrolled_ok += d.reference == 0
                else:
                    one_enrolled_false += d.reference is not None
        for c in (0, 1):
            d = identify_clusters(scores[[c]], threshold=threshold, margin=margin).decisions[0]
            mono_ok += d.reference == c
            d = identify_clusters(scores[[c]][:, [1 - c]], threshold=threshold, margin=margin).decisions[0]
            open_set_false += d.reference is not None
    n = len(matrices)
    return {
        "both: named right": named_right / (2 * n),
        "both: named wrong": named_wrong / (2 * n),
        "one enrolled: named": one_enrolled_ok / (2 * n),
        "one enrolled: stranger named": one_enrolled_false / (2 * n),
        "monologue: named": mono_ok / (2 * n),
        "open set: stranger named": open_set_false / (2 * n),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    lines = speaker_lines()
    print("speech per speaker (s):", {k: round(sum(b - a for a, b in v), 2) for k, v in lines.items()})
    for share in (0.5, 1 / 3):
        matrices = collect(args.splits, share, args.seed)
        same = np.concatenate([np.diag(m) for m in matrices])
        diff = np.concatenate([m[~np.eye(2, dtype=bool)] for m in matrices])
        own_margin = np.concatenate([np.diag(m) - m[:, ::-1].diagonal() for m in matrices])
        dprime = (same.mean() - diff.mean()) / np.sqrt((same.var() + diff.var()) / 2)
        print(f"\nenrolment share {share:.2f}, {args.splits} splits")
        print(f"  same speaker   mean {same.mean():.3f} sd {same.std():.3f} min {same.min():.3f} max {same.max():.3f}")
        print(f"  other speaker  mean {diff.mean():.3f} sd {diff.std():.3f} min {diff.min():.3f} max {diff.max():.3f}")
        print(f"  own - other (same cluster)  min {own_margin.min():+.3f} median {np.median(own_margin):+.3f}")
        print(f"  d' {dprime:.2f}")
        header = f"  {'thr':>5} {'margin':>6} " + " ".join(f"{k:>14.14}" for k in evaluate(matrices, 0.8, 0.04))
        print(header)
        for threshold in (0.78, 0.80, 0.82, 0.84, 0.86):
            for margin in (0.02, 0.03, 0.04, 0.05):
                rates = evaluate(matrices, threshold, margin)
                print(f"  {threshold:5.2f} {margin:6.2f} " + " ".join(f"{v:14.2f}" for v in rates.values()))


if __name__ == "__main__":
    main()
