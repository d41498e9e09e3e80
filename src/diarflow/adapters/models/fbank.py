"""Kaldi-compatible log-mel filterbank features, the input of CAM++, in numpy.

The settings are Kaldi's ``compute-fbank-feats`` defaults as 3D-Speaker's
``FBank`` calls them (``torchaudio.compliance.kaldi.fbank(wav, num_mel_bins=80,
sample_frequency=16000, dither=0)``): 25 ms frames every 10 ms, only frames that
fit whole (``snip_edges``), DC offset removed per frame, pre-emphasis 0.97, the
"povey" window, zero-padded to a 512-point FFT, power spectrum, 80 triangular
bins evenly spaced on Kaldi's mel scale (1127 ln(1 + f/700)) from 20 Hz to
Nyquist, natural log floored at float32's epsilon. No dither, so the features
are deterministic. Kaldi's energy floor concerns only the energy coefficient,
which fbank features do not include (``use_energy`` is false).

Scale: samples are floats in [-1, 1], *not* multiplied by 32768. 3D-Speaker's
inference reads audio with ``torchaudio.load`` (floats in [-1, 1]) and feeds it
to the fbank as is, so CAM++ was trained on that scale; an int16 scale would
shift every log-mel value by 2 ln 32768 ≈ 20.8.

CAM++ then wants the features minus their mean over the segment being embedded
(:func:`subtract_mean`); that step is separate because *which* frames form the
segment is the caller's choice.

Frame ``t`` covers samples ``[160 t, 160 t + 400)``. :class:`FbankStream` takes
audio a block at a time and returns exactly the frames :func:`fbank` would give
for the whole signal, so a long episode never has to be held whole.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.typing import NDArray

from diarflow.adapters.audio_format import SAMPLE_RATE

FRAME_LENGTH = 400  # 25 ms
FRAME_SHIFT = 160  # 10 ms
FFT_SIZE = 512  # the frame length rounded up to a power of two, as Kaldi does
NUM_MEL_BINS = 80
PREEMPHASIS = 0.97
LOW_FREQ_HZ = 20.0
LOG_FLOOR = float(np.finfo(np.float32).eps)
_FRAMES_PER_CHUNK = 2048  # bounds the float64 work arrays to ~10 MB whatever the input length


def num_frames(num_samples: int) -> int:
    """How many whole 25 ms frames fit in ``num_samples`` samples (Kaldi's ``snip_edges``)."""
    return 0 if num_samples < FRAME_LENGTH else 1 + (num_samples - FRAME_LENGTH) // FRAME_SHIFT


def _kaldi_mel(hz: NDArray[np.float64]) -> NDArray[np.float64]:
    result: NDArray[np.float64] = 1127.0 * np.log1p(hz / 700.0)
    return result


@cache
def povey_window() -> NDArray[np.float64]:
    """Kaldi's "povey" window: a Hann window raised to the power 0.85 (it does not reach zero at the ends)."""
    phase = 2 * np.pi * np.arange(FRAME_LENGTH) / (FRAME_LENGTH - 1)
    window: NDArray[np.float64] = (0.5 - 0.5 * np.cos(phase)) ** 0.85
    window.setflags(write=False)
    return window


@cache
def mel_banks() -> NDArray[np.float64]:
    """``(FFT_SIZE // 2 + 1, NUM_MEL_BINS)`` triangular weights; the Nyquist bin weighs 0, as in Kaldi."""
    nyquist = SAMPLE_RATE / 2
    low, high = _kaldi_mel(np.array([LOW_FREQ_HZ, nyquist]))
    edges = low + np.arange(NUM_MEL_BINS + 2) * (high - low) / (NUM_MEL_BINS + 1)
    left, center, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    # Kaldi weighs the FFT bins below Nyquist only.
    bin_mel = _kaldi_mel(np.arange(FFT_SIZE // 2, dtype=np.float64) * (SAMPLE_RATE / FFT_SIZE))[None, :]
    rising = (bin_mel - left) / (center - left)
    falling = (right - bin_mel) / (right - center)
    weights = np.where(bin_mel <= center, rising, falling)
    weights = np.where((bin_mel > left) & (bin_mel < right), weights, 0.0)
    banks = np.zeros((FFT_SIZE // 2 + 1, NUM_MEL_BINS))
    banks[: FFT_SIZE // 2] = weights.T
    banks.setflags(write=False)
    return banks


def _frames_to_fbank(frames: NDArray[np.float64]) -> NDArray[np.float32]:
    frames = frames - frames.mean(axis=1, keepdims=True)
    emphasised = np.empty_like(frames)
    emphasised[:, 1:] = frames[:, 1:] - PREEMPHASIS * frames[:, :-1]
    # Kaldi pre-emphasises the first sample against itself.
    emphasised[:, 0] = frames[:, 0] * (1 - PREEMPHASIS)
    spectrum = np.fft.rfft(emphasised * povey_window(), n=FFT_SIZE, axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    energies = power @ mel_banks()
    return np.log(np.maximum(energies, LOG_FLOOR)).astype(np.float32)


def fbank(samples: NDArray[np.floating]) -> NDArray[np.float32]:
    """``(num_frames(len(samples)), 80)`` log-mel features of 16 kHz mono samples in [-1, 1]."""
    signal = np.asarray(samples, dtype=np.float32).reshape(-1)
    count = num_frames(signal.size)
    out = np.empty((count, NUM_MEL_BINS), dtype=np.float32)
    if count == 0:
        return out
    # A strided view: frames overlap, so no copy is made until a chunk is converted to float64.
    frames = np.lib.stride_tricks.sliding_window_view(signal, FRAME_LENGTH)[::FRAME_SHIFT][:count]
    for first in range(0, count, _FRAMES_PER_CHUNK):
        chunk = frames[first : first + _FRAMES_PER_CHUNK]
        out[first : first + len(chunk)] = _frames_to_fbank(chunk.astype(np.float64))
    return out


def subtract_mean(features: NDArray[np.float32], axis: int = -2) -> NDArray[np.float32]:
    """Features minus their mean over time (``axis``, the frame axis of ``(..., T, 80)``), as CAM++ expects."""
    if features.shape[axis] == 0:
        return features
    centred: NDArray[np.float32] = features - features.mean(axis=axis, keepdims=True, dtype=np.float64)
    return centred.astype(np.float32, copy=False)


class FbankStream:
    """:func:`fbank` over audio that arrives a block at a time; the frames come out exactly as for the whole.

    Each :meth:`accept` returns the frames that the samples so far complete; the
    samples of frames not yet complete (under 25 ms) are kept for the next block.
    """

    def __init__(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)
        self.frames_done = 0
        """Frames returned so far: the index of the next frame returned."""

    def accept(self, block: NDArray[np.floating]) -> NDArray[np.float32]:
        """The ``(n, 80)`` frames that ``block`` completes (n may be 0)."""
        signal = np.concatenate([self._pending, np.asarray(block, dtype=np.float32).reshape(-1)])
        features = fbank(signal)
        consumed = len(features) * FRAME_SHIFT
        self._pending = signal[consumed:].copy()
        self.frames_done += len(features)
        return features
