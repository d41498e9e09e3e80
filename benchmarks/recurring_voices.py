"""How well ``diarflow speakers recurring`` groups the same voice across episodes: the AMI clips.

Speakers recur across dev00/dev01, tst00/tst01, trn07/trn08 and some train clips.
Each clip's clusters (the reference's solo speech ``oracle``, or the offline
diarizer's: ``local``, ``local-own`` with the diarizer's own embedding) are embedded as
identification embeds them (``benchmarks/calibrate_identification.py``: best
exclusive turns up to 30 s, CAM++), clusters under ``MIN_GROUPED_SECONDS`` of
speech are left out as the command leaves them out, and every clip of a split
group is grouped at once (``domain/recurring.group_voices``). A cluster's true
speaker is the reference speaker it overlaps most.

Figures are pairwise over clusters of *different* clips: precision = pairs put in
one group that are one speaker / pairs put in one group; recall = pairs of one
speaker put in one group / pairs of one speaker. The threshold is chosen on the
calibration group (train + development), pooled over the diarizer's clusters
(local, local-own): the highest F1. Test (tst00, tst01) is reported apart and never
tuned on.

Run: ``make eval-data`` then
``.venv/bin/python benchmarks/recurring_voices.py [--data .eval-data] [--cache DIR]``, ``--cache`` being
calibrate_identification's (diarizations and embeddings; read, never written).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from benchmarks.calibrate_identification import (  # noqa: E402
    GRID,
    GROUPS,
    SOURCES,
    Cluster,
    Embeddings,
    diarized,
    load_clips,
    representative,
)

from diarflow.domain.recurring import MIN_GROUPED_SECONDS, SAME_VOICE_THRESHOLD, group_voices  # noqa: E402

THRESHOLDS = np.round(np.arange(0.20, 0.801, 0.025), 3)
DIARIZER_SOURCES = ("local", "local-own")


@dataclass(frozen=True)
class Voices:
    """The clusters of one split group and one source that are grouped: embeddings, clips, true speakers."""

    embeddings: NDArray[np.float64]
    clips: list[str]
    truths: list[str]


@dataclass
class Pairs:
    grouped: int = 0
    right: int = 0
    same: int = 0

    def add(self, other: Pairs) -> None:
        self.grouped += other.grouped
        self.right += other.right
        self.same += other.same

    @property
    def precision(self) -> float:
        return self.right / self.grouped if self.grouped else float("nan")

    @property
    def recall(self) -> float:
        return self.right / self.same if self.same else float("nan")

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if self.right else 0.0


def voices_of(clusters: list[Cluster], embeddings: Embeddings, source: str, min_seconds: float) -> Voices:
    rows, clips, truths = [], [], []
    for cluster in clusters:
        if cluster.turns.sum() * GRID < min_seconds:
            continue
        vector = (
            cluster.own if source == "local-own" else embeddings.of([(cluster.clip_id, representative(cluster, None))])
        )
        if vector is None or not np.isfinite(vector).all():
            continue
        rows.append(np.asarray(vector, dtype=np.float64))
        clips.append(cluster.clip_id)
        truths.append(cluster.truth)
    return Voices(np.array(rows).reshape(len(rows), -1), clips, truths)


def pairs_at(voices: Voices, threshold: float) -> Pairs:
    group_of = np.empty(len(voices.clips), dtype=int)
    for number, group in enumerate(group_voices(voices.embeddings, voices.clips, threshold)):
        group_of[group] = number
    counted = Pairs()
    for i in range(len(voices.clips)):
        for j in range(i + 1, len(voices.clips)):
            if voices.clips[i] == voices.clips[j]:
                continue
            together, same = group_of[i] == group_of[j], voices.truths[i] == voices.truths[j]
            counted.grouped += int(together)
            counted.same += int(same)
            counted.right += int(together and same)
    return counted


def pct(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{100 * value:.1f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / ".eval-data")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/diarflow-calibrate-identification"))
    parser.add_argument("--min-seconds", type=float, default=MIN_GROUPED_SECONDS, help="clusters left out below")
    args = parser.parse_args()
    clips = load_clips(args.data)
    clusters = diarized(clips, args.data, args.cache, SOURCES)
    embeddings = Embeddings(clips, args.cache)  # never saved: the cache is only read
    group_of_clip = {clip.clip_id: clip.group for clip in clips}
    voices = {
        (group, source): voices_of(
            [c for clip_id, found in clusters[source].items() if group_of_clip[clip_id] == group for c in found],
            embeddings,
            source,
            args.min_seconds,
        )
        for group in GROUPS
        for source in SOURCES
    }

    voices_of_all = {
        (group, source): voices_of(
            [c for clip_id, found in clusters[source].items() if group_of_clip[clip_id] == group for c in found],
            embeddings,
            source,
            0.0,
        )
        for group in GROUPS
        for source in SOURCES
    }
    print("calibration (train + development), the diarizer's clusters pooled (local, local-own):")
    print(f"{'threshold':>9} {'precision':>10} {'recall':>8} {'F1':>6}")
    best, best_f1 = float(THRESHOLDS[0]), -1.0
    for threshold in THRESHOLDS:
        pooled = Pairs()
        for source in DIARIZER_SOURCES:
            pooled.add(pairs_at(voices["calibration", source], float(threshold)))
        print(f"{threshold:>9.3f} {pct(pooled.precision):>10} {pct(pooled.recall):>8} {pooled.f1:>6.3f}")
        if pooled.f1 > best_f1:
            best, best_f1 = float(threshold), pooled.f1
    print(f"\nchosen on calibration: {best:.3f} (the default in domain/recurring.py: {SAME_VOICE_THRESHOLD})\n")
    for min_seconds in dict.fromkeys((args.min_seconds, 0.0)):
        print(f"at {SAME_VOICE_THRESHOLD}, clusters of >= {min_seconds:g} s of speech:")
        header = f"{'group':<12} {'source':<9} {'clusters':>8} {'same-speaker pairs':>18} {'grouped':>7} {'right':>5}"
        print(f"{header} {'precision':>10} {'recall':>8}")
        for (group, source), every in voices.items():
            found = every if min_seconds == args.min_seconds else voices_of_all[group, source]
            counted = pairs_at(found, SAME_VOICE_THRESHOLD)
            row = f"{group:<12} {source:<9} {len(found.clips):>8} {counted.same:>18}"
            row += f" {counted.grouped:>7} {counted.right:>5} {pct(counted.precision):>10} {pct(counted.recall):>8}"
            print(row)
        print()


if __name__ == "__main__":
    main()
