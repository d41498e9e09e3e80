"""Resemblyzer's GE2E speaker encoder, re-implemented on torch alone: the previous voiceprint model.

The offline diarizer does not use it (it hears voices with CAM++). It is kept for
registries enrolled before CAM++: :class:`~diarflow.adapters.speaker_embedding.ClipEmbedder`
(``load_voice_embedder("resemblyzer-ge2e")``) computes voiceprints of that model, the
ones ``diarflow voiceprints migrate`` replaces with CAM++ embeddings of their source clips.

The weights are Resemblyzer's ``pretrained.pt`` (Apache-2.0), read from the
installed ``resemblyzer`` distribution *without importing it*: importing
``resemblyzer`` pulls librosa and webrtcvad, which diarflow does not need.
The network is a 3-layer LSTM (40 -> 256), a linear layer, ReLU and L2 norm;
its input is a *power* (not log) mel spectrogram: 25 ms Hann window, 10 ms hop,
40 Slaney-normalised mel bands (librosa's defaults), 16 kHz audio whose level
was raised to -30 dBFS. The front end below reproduces librosa's
``melspectrogram`` in numpy/torch so no librosa is needed at run time.

torch is imported inside functions: ``import diarflow`` never pays for it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from diarflow.adapters.audio_format import SAMPLE_RATE
from diarflow.adapters.models.runtime import default_threads, inference, torch_threads
from diarflow.errors import DiarizerUnavailable

if TYPE_CHECKING:
    import torch

N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s: the length GE2E partials were trained on
EMBEDDING_SIZE = 256
TARGET_DBFS = -30.0
WEIGHTS_ENV = "DIARFLOW_GE2E_WEIGHTS"
"""Optional path to a GE2E ``pretrained.pt``; else the installed ``resemblyzer`` wheel's copy."""


def find_weights() -> Path | None:
    """Where the GE2E weights are: ``$DIARFLOW_GE2E_WEIGHTS``, else inside the installed resemblyzer."""
    override = os.environ.get(WEIGHTS_ENV)
    if override:
        path = Path(override)
        return path if path.is_file() else None
    # find_spec locates a top-level package without executing its __init__ (which imports librosa).
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "pretrained.pt"
        if candidate.is_file():
            return candidate
    return None


def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> NDArray[np.float32]:
    """librosa.filters.mel(sr, n_fft, n_mels) with its defaults: Slaney mel scale and area normalisation."""
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0

    def hz_to_mel(hz: NDArray[np.float64]) -> NDArray[np.float64]:
        linear = hz / f_sp
        log = min_log_mel + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep
        return np.where(hz >= min_log_hz, log, linear)

    def mel_to_hz(mel: NDArray[np.float64]) -> NDArray[np.float64]:
        linear = f_sp * mel
        log = min_log_hz * np.exp(logstep * (mel - min_log_mel))
        return np.where(mel >= min_log_mel, log, linear)

    fft_freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    edges = np.array([0.0, sample_rate / 2])
    low_mel, high_mel = hz_to_mel(edges).tolist()
    mel_points = np.linspace(low_mel, high_mel, n_mels + 2)
    mel_freqs = mel_to_hz(mel_points)
    widths = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2 : n_mels + 2] - mel_freqs[:n_mels]))[:, None]
    return weights.astype(np.float32)


def normalize_level(wav: NDArray[np.float32], target_dbfs: float = TARGET_DBFS) -> NDArray[np.float32]:
    """Raise (never lower) the level to ``target_dbfs``, as the encoder's training data was."""
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) if wav.size else 0.0
    if rms <= 1e-6:
        return wav
    gain_db = target_dbfs - 20 * np.log10(rms)
    return (wav * np.float32(10 ** (gain_db / 20))).astype(np.float32) if gain_db > 0 else wav


@dataclass
class SpeakerEncoder:
    """GE2E embeddings of audio pieces; build with :meth:`load`."""

    network: Any  # torch.nn.Module; typed loosely so the module imports without torch
    mel_basis: Any  # torch.Tensor (n_mels, 1 + n_fft // 2)
    window: Any  # torch.Tensor (n_fft,)
    threads: int
    batch_size: int = 64

    @classmethod
    def load(cls, weights: Path | None = None, *, threads: int | None = None) -> SpeakerEncoder:
        """Load the weights with torch; :class:`DiarizerUnavailable` when torch or the weights are missing."""
        path = weights or find_weights()
        if path is None:
            raise DiarizerUnavailable(
                "the GE2E speaker-encoder weights were not found: pip install --no-deps resemblyzer==0.1.4 "
                f"(it ships pretrained.pt), or set {WEIGHTS_ENV} to its path"
            )
        try:
            import torch
            from torch import nn
        except ImportError:
            raise DiarizerUnavailable("torch is not installed: pip install 'diarflow[local]'") from None

        class GE2E(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lstm = nn.LSTM(N_MELS, 256, 3, batch_first=True)
                self.linear = nn.Linear(256, EMBEDDING_SIZE)

            def forward(self, mels: torch.Tensor) -> torch.Tensor:
                _, (hidden, _) = self.lstm(mels)
                raw = torch.relu(self.linear(hidden[-1]))
                norm: torch.Tensor = torch.linalg.vector_norm(raw, dim=1, keepdim=True).clamp_min(1e-12)
                return raw / norm

        try:
            # weights_only: the checkpoint is plain tensors and ints; refuse anything that would run code.
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
            state = {k: v for k, v in checkpoint["model_state"].items() if k.startswith(("lstm.", "linear."))}
            network = GE2E()
            network.load_state_dict(state)
        except (OSError, RuntimeError, KeyError, TypeError, ValueError) as exc:
            raise DiarizerUnavailable(f"cannot load the GE2E weights at {path}: {exc}") from None
        network.eval()
        count = threads if threads is not None else default_threads()
        return cls(
            network=network,
            mel_basis=torch.from_numpy(mel_filterbank()),
            window=torch.hann_window(N_FFT, periodic=True),
            threads=count,
        )

    def mel(self, wav: NDArray[np.float32]) -> NDArray[np.float32]:
        """(frames, 40) power mel spectrogram of 16 kHz audio, as librosa computes it (centred frames)."""
        import torch

        signal = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))
        if signal.numel() <= N_FFT // 2:
            # Reflect padding needs more samples than half a window; such a piece is silence to the encoder.
            signal = torch.nn.functional.pad(signal, (0, N_FFT // 2 + 1 - signal.numel()))
        with torch_threads(self.threads):
            spectrum = torch.stft(
                signal, N_FFT, HOP, window=self.window, center=True, pad_mode="reflect", return_complex=True
            )
            power = spectrum.real.square() + spectrum.imag.square()
            mel = (self.mel_basis @ power).T.contiguous()
        result: NDArray[np.float32] = mel.numpy()
        return result

    def embed_partials(self, partials: Sequence[NDArray[np.float32]]) -> NDArray[np.float32]:
        """One L2-normalised embedding per mel partial (each ``(frames, 40)``, any length >= 1).

        Partials of equal length share a batch; lengths differ only for pieces shorter
        than one 1.6 s window, so there are few distinct lengths.
        """
        import torch

        out = np.zeros((len(partials), EMBEDDING_SIZE), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for index, partial in enumerate(partials):
            by_length.setdefault(len(partial), []).append(index)
        with inference(self.threads):
            for indices in by_length.values():
                for first in range(0, len(indices), self.batch_size):
                    chunk = indices[first : first + self.batch_size]
                    batch = torch.from_numpy(np.stack([partials[i] for i in chunk]))
                    out[chunk] = self.network(batch).numpy()
        return out
