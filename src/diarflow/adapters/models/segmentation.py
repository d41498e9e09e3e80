"""What the segmentation-3.0 network's outputs mean: frame timing and the powerset classes (numpy only).

The network (:mod:`diarflow.adapters.models.pyannet`) reads 10 s windows of
16 kHz audio and gives, for each of 589 frames, log-probabilities over 7
*powerset* classes: which of up to 3 speakers local to the window speak in that
frame, at most 2 at once. This module turns those into per-speaker activities
and says where each frame lies in time, without importing torch, so code that
aggregates windows or clusters speakers (the domain layer) can use it.

Frame timing follows pyannote.audio's receptive-field arithmetic over the
SincNet front end's convolutions and poolings (no padding anywhere): frame
``i`` of a window starting at ``t0`` is centred on ``t0 + FRAMES.centers(n)[i]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from numpy.typing import NDArray

from diarflow.adapters.audio_format import SAMPLE_RATE

WINDOW_SECONDS = 10.0
WINDOW_SAMPLES = round(WINDOW_SECONDS * SAMPLE_RATE)
LOCAL_SPEAKERS = 3
MAX_SPEAKERS_PER_FRAME = 2

# (kernel size, stride) of each layer between the samples and the output frames: the sinc
# filterbank (stride 10), then max-pool 3, conv 5, max-pool 3, conv 5, max-pool 3.
_LAYERS: tuple[tuple[int, int], ...] = ((251, 10), (3, 3), (5, 1), (3, 3), (5, 1), (3, 3))


def _powerset_classes() -> tuple[tuple[int, ...], ...]:
    # pyannote's order: by set size, then lexicographically: {}, {0}, {1}, {2}, {0,1}, {0,2}, {1,2}.
    return tuple(
        speakers for size in range(MAX_SPEAKERS_PER_FRAME + 1) for speakers in combinations(range(LOCAL_SPEAKERS), size)
    )


POWERSET_CLASSES: tuple[tuple[int, ...], ...] = _powerset_classes()
"""The local speakers (0-based) active in each of the 7 classes: ∅, 1, 2, 3, 1+2, 1+3, 2+3."""

NUM_CLASSES = len(POWERSET_CLASSES)


def powerset_mapping() -> NDArray[np.float32]:
    """``(7, 3)`` matrix: row c has a 1 for each speaker active in class c."""
    mapping = np.zeros((NUM_CLASSES, LOCAL_SPEAKERS), dtype=np.float32)
    for index, speakers in enumerate(POWERSET_CLASSES):
        mapping[index, list(speakers)] = 1.0
    return mapping


@dataclass(frozen=True)
class FrameTiming:
    """Where the network's output frames lie, in samples and seconds from the start of the window.

    ``step``: distance between two frames' starts (270 samples, 16.875 ms);
    ``duration``: one frame's receptive field (991 samples, 61.9 ms);
    ``start``: where frame 0's receptive field starts (0: nothing is padded).
    """

    sample_rate: int = SAMPLE_RATE

    def num_frames(self, num_samples: int) -> int:
        """Output frames for a window of ``num_samples`` samples (589 for 10 s)."""
        frames = num_samples
        for kernel, stride in _LAYERS:
            frames = 1 + (frames - kernel) // stride if frames >= kernel else 0
        return frames

    def receptive_field(self, num_frames: int = 1) -> int:
        """Samples that ``num_frames`` consecutive output frames depend on."""
        size = num_frames
        for kernel, stride in reversed(_LAYERS):
            size = kernel + (size - 1) * stride
        return size

    @property
    def step_samples(self) -> int:
        return self.receptive_field(2) - self.receptive_field(1)

    @property
    def step(self) -> float:
        return self.step_samples / self.sample_rate

    @property
    def duration(self) -> float:
        return self.receptive_field(1) / self.sample_rate

    @property
    def start(self) -> float:
        center = 0
        for kernel, stride in reversed(_LAYERS):
            center = center * stride + (kernel - 1) // 2
        return (center - (self.receptive_field(1) - 1) / 2) / self.sample_rate

    def centers(self, count: int) -> NDArray[np.float64]:
        """Seconds from the window's start to the middle of each of the first ``count`` frames."""
        centers: NDArray[np.float64] = self.start + self.step * np.arange(count, dtype=np.float64) + self.duration / 2
        return centers


FRAMES = FrameTiming()
FRAMES_PER_WINDOW = FRAMES.num_frames(WINDOW_SAMPLES)


def powerset_to_multilabel(log_probs: NDArray[np.floating], *, soft: bool = False) -> NDArray[np.float32]:
    """``(..., 7)`` powerset log-probabilities to ``(..., 3)`` per-speaker activity.

    Hard (default): each frame takes its most likely class, and the speakers of
    that class are 1, the others 0 (pyannote's conversion). Soft: each
    speaker's probability of speaking, the sum of the probabilities of the
    classes that contain it (it can exceed the hard answer's certainty, and two
    speakers' probabilities may sum past 1 where overlap is likely).
    """
    scores = np.asarray(log_probs)
    if scores.shape[-1] != NUM_CLASSES:
        raise ValueError(f"expected {NUM_CLASSES} powerset classes on the last axis, got shape {scores.shape}")
    mapping = powerset_mapping()
    if soft:
        probabilities = np.exp(scores.astype(np.float64))
        result: NDArray[np.float32] = (probabilities @ mapping.astype(np.float64)).astype(np.float32)
        return result
    hard: NDArray[np.float32] = mapping[np.argmax(scores, axis=-1)]
    return hard
