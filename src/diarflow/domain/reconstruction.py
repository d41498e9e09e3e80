"""From windows of local speakers to the episode's turns, overlap included.

Each window says, per frame, which of its (up to three) local speakers are
active; clustering says who each local speaker is. Reconstruction lays that
on the episode's frame grid (:mod:`diarflow.domain.frames`):

* **How many speak** at each frame is the average, over the windows that
  heard it, of how many local speakers were active — rounded, so two voices
  at once count two (the segmentation model hears overlap);
* **who** speaks is the ``count`` speakers whose activity, averaged over the
  same windows, is highest there;
* a speaker's frames become **turns**; the one-at-a-time variant
  (``exclusive``, what words are aligned to) keeps only the most active
  speaker where several overlap;
* a turn's **confidence** is the mean, over its frames, of how clearly each
  window's local speaker matched its cluster (the cosine margin over the
  next cluster, scaled by :data:`CONFIDENT_MARGIN`).

Windows are processed in batches, so memory follows the batch, not the episode.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from diarflow.domain.frames import FrameGrid, aggregate, run_edges
from diarflow.domain.turns import Turns

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

CONFIDENT_MARGIN = 0.3
"""Cosine margin over the next speaker at which a window speaker counts as certain (confidence 1)."""


@dataclass(frozen=True, eq=False)
class WindowBatch:
    """Some consecutive windows: local activity (windows × frames × locals, 0/1), cluster and margin per local."""

    first_frames: IntArray
    activity: NDArray[np.float32] | NDArray[np.uint8]
    clusters: IntArray
    margins: FloatArray


@dataclass(frozen=True, eq=False)
class SpeakerFrames:
    """Per episode frame and speaker: averaged activity and confidence; and the overlap-aware speaker count."""

    activity: FloatArray
    confidence: FloatArray
    count: IntArray


def speaker_frames(batches: Iterable[WindowBatch], num_frames: int, num_speakers: int) -> SpeakerFrames:
    """Average every window's activity per speaker (and the count of voices) on the episode's frame grid."""
    activity = np.zeros((num_frames, num_speakers))
    confidence = np.zeros((num_frames, num_speakers))
    voices = np.zeros(num_frames)
    coverage = np.zeros(num_frames)
    for batch in batches:
        local = batch.activity.astype(np.float64)
        summed, seen = aggregate(local.sum(axis=2, keepdims=True), batch.first_frames, num_frames)
        voices += summed[:, 0]
        coverage += seen
        if num_speakers == 0:
            continue
        # Local speaker j of window w is speaker clusters[w, j] (distinct within a window): one column each.
        one_hot = np.zeros((*local.shape[:2], num_speakers))
        weighted = np.zeros_like(one_hot)
        sure = np.clip(np.nan_to_num(batch.margins, nan=0.0) / CONFIDENT_MARGIN, 0.0, 1.0)
        for j in range(local.shape[2]):
            speaker = batch.clusters[:, j]
            rows = np.flatnonzero(speaker >= 0)
            one_hot[rows, :, speaker[rows]] += local[rows, :, j]
            weighted[rows, :, speaker[rows]] += local[rows, :, j] * sure[rows, j][:, np.newaxis]
        activity += aggregate(one_hot, batch.first_frames, num_frames)[0]
        confidence += aggregate(weighted, batch.first_frames, num_frames)[0]
    heard = np.maximum(coverage, 1.0)
    count = np.rint(voices / heard).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.where(activity > 0, confidence / np.where(activity > 0, activity, 1.0), 0.0)
    return SpeakerFrames(activity / heard[:, np.newaxis], mean_confidence, count)


def select_speakers(frames: SpeakerFrames, *, at_most: int | None = None) -> NDArray[np.bool_]:
    """Frames × speakers: the ``count`` most active speakers of each frame (at most ``at_most``)."""
    num_frames, num_speakers = frames.activity.shape
    count = np.minimum(frames.count, num_speakers if at_most is None else min(at_most, num_speakers))
    if num_speakers == 0:
        return np.zeros((num_frames, 0), dtype=np.bool_)
    rank = np.argsort(np.argsort(-frames.activity, axis=1, kind="stable"), axis=1, kind="stable")
    return (rank < count[:, np.newaxis]) & (frames.activity > 0)


def turns_from_frames(selected: NDArray[np.bool_], confidence: FloatArray, grid: FrameGrid, names: list[str]) -> Turns:
    """Each speaker's runs of selected frames as turns."""
    starts: list[float] = []
    ends: list[float] = []
    speakers: list[str] = []
    confidences: list[float] = []
    for k, name in enumerate(names):
        firsts, stops = run_edges(selected[:, k])
        for first, stop in zip(firsts.tolist(), stops.tolist(), strict=True):
            starts.append(max(0.0, float(grid.centre(first) - grid.step / 2)))
            ends.append(float(grid.centre(stop - 1) + grid.step / 2))
            speakers.append(name)
            confidences.append(float(np.clip(confidence[first:stop, k].mean(), 0.0, 1.0)))
    return Turns.from_columns(starts, ends, speakers, confidences)
