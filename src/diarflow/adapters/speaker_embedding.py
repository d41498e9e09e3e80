"""Speaker embeddings of clips for identification: CAM++ (current) and GE2E (previous registries).

A clip (an enrolment, or a cluster's representative turns) is its segments'
samples concatenated; :mod:`~diarflow.adapters.diarizers.local.audio` cuts
them from a long file in one streaming decode without holding it in memory.

* **CAM++** (:class:`CamClipEmbedder`, model ``campplus-cn-en-common``): the
  whole clip's fbank, minus its mean, through CAM++ at once. Each clip is
  embedded alone rather than pooled from a trunk run over the whole episode:
  a speaker's frames pooled from a shared trunk carry the other voices'
  context (other-speaker cosine 0.32 -> 0.50 on the sample, docs/models.md),
  and the trunk then sees at most 30 s per cluster instead of every second of
  the episode.
* **GE2E** (:class:`ClipEmbedder`, model ``resemblyzer-ge2e``): 1.6 s windows
  every 0.4 s, averaged. Kept so registries enrolled before CAM++ keep
  working until ``diarflow voiceprints migrate`` re-embeds them.

torch and PyAV are imported when an embedder is built, never at import time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from diarflow.adapters.audio_format import SAMPLE_RATE
from diarflow.adapters.diarizers.local import INSTALL_HINT
from diarflow.adapters.diarizers.local import audio as audio_io
from diarflow.adapters.models.ge2e import HOP, PARTIAL_FRAMES, SpeakerEncoder, normalize_level
from diarflow.contracts.voiceprints import CAMPPLUS_VOICEPRINT_MODEL, GE2E_VOICEPRINT_MODEL
from diarflow.errors import DiarizerUnavailable

MODEL = GE2E_VOICEPRINT_MODEL
"""The model name voiceprint entries carry for GE2E embeddings."""
WINDOW_STEP = 40
"""Frames between GE2E windows (0.4 s)."""
MIN_SAMPLES = SAMPLE_RATE // 2
"""Below half a second of audio an embedding says nothing about a voice."""

_INSTALL_HINT = "pip install 'diarflow[local]' && pip install --no-deps resemblyzer==0.1.4"


class VoiceEmbedder(Protocol):
    """One L2-normalised embedding per clip of 16 kHz mono audio, tagged with its model name."""

    model: str

    def embed(self, samples: NDArray[np.float32]) -> NDArray[np.float32]: ...

    def embed_many(self, clips: Sequence[NDArray[np.float32]]) -> NDArray[np.float32]: ...


def load_voice_embedder(model: str = CAMPPLUS_VOICEPRINT_MODEL, *, threads: int | None = None) -> VoiceEmbedder:
    """The embedder of ``model`` (a registry model name); ValueError for a model no local embedder computes."""
    if model == CAMPPLUS_VOICEPRINT_MODEL:
        return CamClipEmbedder.load(threads=threads)
    if model == GE2E_VOICEPRINT_MODEL:
        return ClipEmbedder.load(threads=threads)
    raise ValueError(f"no local embedder computes {model!r} voiceprints")


def campplus_available() -> bool:
    """Whether torch, PyAV and the CAM++ weights are installed (imports nothing heavy)."""
    import importlib.util

    from diarflow.adapters.models.weights import find_campplus_weights

    if any(importlib.util.find_spec(name) is None for name in ("torch", "av")):
        return False
    return find_campplus_weights() is not None


@dataclass
class CamClipEmbedder:
    """One L2-normalised CAM++ embedding (192 numbers) per clip; build with :meth:`load`."""

    network: Any
    """A :class:`~diarflow.adapters.models.campplus.SpeakerEmbedder` (typed loosely: importing it imports torch)."""
    model: str = CAMPPLUS_VOICEPRINT_MODEL

    @classmethod
    def load(cls, *, threads: int | None = None) -> CamClipEmbedder:
        """Load the CAM++ weights; :class:`DiarizerUnavailable` naming the install command when missing."""
        if not campplus_available():
            raise DiarizerUnavailable(
                "speaker identification needs torch, PyAV and the CAM++ weights, which are not installed: "
                + INSTALL_HINT
            )
        from diarflow.adapters.models.campplus import SpeakerEmbedder

        return cls(SpeakerEmbedder.load(threads=threads))

    def embed(self, samples: NDArray[np.float32]) -> NDArray[np.float32]:
        """The embedding of 16 kHz mono audio (segments already concatenated)."""
        vector: NDArray[np.float32] = self.embed_many([samples])[0]
        return vector

    def embed_many(self, clips: Sequence[NDArray[np.float32]]) -> NDArray[np.float32]:
        """(len(clips), 192) embeddings, one network pass per clip (clips differ in length)."""
        from diarflow.adapters.models.campplus import MIN_SAMPLES
        from diarflow.adapters.models.fbank import fbank, subtract_mean

        out = np.zeros((len(clips), 192), dtype=np.float64)
        for index, clip in enumerate(clips):
            features = fbank(_at_least(np.asarray(clip, dtype=np.float32), MIN_SAMPLES))
            out[index] = self.network.embed(subtract_mean(features)[np.newaxis])[0]
        norms = np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        result: NDArray[np.float32] = (out / norms).astype(np.float32)
        return result


def _at_least(samples: NDArray[np.float32], size: int) -> NDArray[np.float32]:
    """A clip repeated up to ``size`` samples (zeros would be silence the model never saw; empty stays silent)."""
    if samples.size >= size:
        return samples
    if samples.size == 0:
        return np.zeros(size, dtype=np.float32)
    return np.tile(samples, int(np.ceil(size / samples.size)))[:size]


def embedder_available() -> bool:
    """Whether torch, PyAV and the GE2E weights are installed (imports nothing heavy)."""
    import importlib.util

    from diarflow.adapters.models.ge2e import find_weights

    if any(importlib.util.find_spec(name) is None for name in ("torch", "av")):
        return False
    return find_weights() is not None


@dataclass
class ClipEmbedder:
    """One L2-normalised GE2E embedding per clip; build with :meth:`load`."""

    encoder: SpeakerEncoder
    model: str = GE2E_VOICEPRINT_MODEL

    @classmethod
    def load(cls, *, threads: int | None = None) -> ClipEmbedder:
        """Load the GE2E weights; :class:`DiarizerUnavailable` naming the install command when missing."""
        if not embedder_available():
            raise DiarizerUnavailable(
                "speaker identification needs torch, PyAV and the GE2E weights, which are not installed: "
                + _INSTALL_HINT
            )
        return cls(SpeakerEncoder.load(threads=threads))

    def embed(self, samples: NDArray[np.float32]) -> NDArray[np.float32]:
        """The embedding of 16 kHz mono audio (segments already concatenated)."""
        windows = self._windows(samples)
        vectors = self.encoder.embed_partials(windows)
        mean = vectors.mean(axis=0)
        result: NDArray[np.float32] = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        return result

    def embed_many(self, clips: Sequence[NDArray[np.float32]]) -> NDArray[np.float32]:
        """(len(clips), 256) embeddings; all windows go through the network in shared batches."""
        windows: list[NDArray[np.float32]] = []
        owners: list[int] = []
        for index, clip in enumerate(clips):
            pieces = self._windows(clip)
            windows += pieces
            owners += [index] * len(pieces)
        out = np.zeros((len(clips), 256), dtype=np.float64)
        if windows:
            np.add.at(out, np.array(owners), self.encoder.embed_partials(windows).astype(np.float64))
        norms = np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        result: NDArray[np.float32] = (out / norms).astype(np.float32)
        return result

    def _windows(self, samples: NDArray[np.float32]) -> list[NDArray[np.float32]]:
        wav = normalize_level(np.asarray(samples, dtype=np.float32))
        needed = PARTIAL_FRAMES * HOP
        if wav.size == 0:
            wav = np.zeros(needed + 1, dtype=np.float32)
        elif wav.size < needed:  # shorter than one window: repeat it (zeros would be silence the model never saw)
            wav = np.tile(wav, int(np.ceil((needed + 1) / wav.size)))[: needed + 1]
        mel = self.encoder.mel(wav)
        if len(mel) <= PARTIAL_FRAMES:
            return [mel[:PARTIAL_FRAMES]]
        starts = list(range(0, len(mel) - PARTIAL_FRAMES + 1, WINDOW_STEP))
        if starts[-1] + PARTIAL_FRAMES < len(mel):
            starts.append(len(mel) - PARTIAL_FRAMES)
        return [mel[s : s + PARTIAL_FRAMES] for s in starts]


def read_segments(
    path: Path, groups: Sequence[NDArray[np.float64]], *, tracks: Sequence[int | None] | None = None
) -> list[NDArray[np.float32]]:
    """For each group of (n, 2) [start, end] seconds, its segments' samples concatenated.

    One streaming decode of the file: only the requested samples are kept (at most
    ~30 s per group), so a 6-hour episode costs no more memory than a 6-minute one.
    Segments past the end of the audio are cut at the end. ``tracks[g]``, when
    given, is the track group ``g`` is cut from (None: the mean of all tracks);
    without ``tracks`` every group is cut from FFmpeg's mono downmix.
    """
    wanted = [
        (round(start * SAMPLE_RATE), round(end * SAMPLE_RATE), group)
        for group, rows in enumerate(groups)
        for start, end in np.asarray(rows, dtype=np.float64).reshape(-1, 2).tolist()
        if end > start
    ]
    wanted.sort()
    pieces: list[list[tuple[int, NDArray[np.float32]]]] = [[] for _ in groups]
    if wanted:
        if tracks is None:  # one mono "track" that every group is cut from
            _cut((block[np.newaxis] for block in audio_io.stream_audio(path)), wanted, [0] * len(groups), pieces)
        else:
            _cut(audio_io.stream_tracks(path), wanted, tracks, pieces)
    return [
        np.concatenate([p for _, p in sorted(parts, key=lambda item: item[0])])
        if parts
        else np.zeros(0, dtype=np.float32)
        for parts in pieces
    ]


def _cut(
    blocks: Iterable[NDArray[np.float32]],
    wanted: list[tuple[int, int, int]],
    rows: Sequence[int | None],
    pieces: list[list[tuple[int, NDArray[np.float32]]]],
) -> None:
    """Collect each wanted [a, b) sample range from consecutive (tracks, samples) blocks (ranges sorted by start).

    Group ``g`` is cut from track ``rows[g]``, or from the mean of the tracks when that is None or absent.
    """
    offset = 0
    first_open = 0  # ranges before this index are complete
    for block in blocks:
        block_end = offset + block.shape[1]
        index = first_open
        while index < len(wanted) and wanted[index][0] < block_end:
            a, b, group = wanted[index]
            lo, hi = max(a, offset), min(b, block_end)
            if hi > lo:
                span = block[:, lo - offset : hi - offset]
                row = rows[group]
                own = span[row] if row is not None and row < span.shape[0] else span.mean(axis=0)
                pieces[group].append((lo, np.array(own, dtype=np.float32)))
            index += 1
        while first_open < len(wanted) and wanted[first_open][1] <= block_end:
            first_open += 1
        offset = block_end
        if first_open >= len(wanted):
            break


def decode_clip(path: Path, start: float | None = None, end: float | None = None) -> NDArray[np.float32]:
    """16 kHz mono samples of ``path`` between ``start`` and ``end`` seconds (whole file by default)."""
    begin = 0.0 if start is None else start
    stop = float("inf") if end is None else end
    if stop == float("inf"):
        blocks = list(audio_io.stream_audio(path))
        whole = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
        result: NDArray[np.float32] = whole[round(begin * SAMPLE_RATE) :]
        return result
    return read_segments(path, [np.array([[begin, stop]])])[0]


def speech_seconds(samples: NDArray[np.float32]) -> tuple[float, NDArray[np.float64]]:
    """Seconds of speech the offline diarizer's voice-activity detector hears, and its regions."""
    from diarflow.adapters.diarizers.local.vad import SileroVad, speech_regions

    vad = SileroVad.load()
    vad.reset()
    vad.push(np.asarray(samples, dtype=np.float32))
    regions = speech_regions(vad.finish())
    total = float(np.sum(regions[:, 1] - regions[:, 0])) if regions.size else 0.0
    return total, regions


def write_wav(samples: NDArray[np.float32]) -> bytes:
    """16-bit PCM mono 16 kHz WAV bytes (audit clips)."""
    import io
    import wave

    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32767.0), -32768, 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes(pcm.tobytes())
    return buffer.getvalue()


def as_list(vector: NDArray[Any]) -> list[float]:
    """An embedding as JSON numbers, rounded to 6 decimals (cosine scores change by < 1e-5)."""
    return [round(float(x), 6) for x in np.asarray(vector).reshape(-1)]
