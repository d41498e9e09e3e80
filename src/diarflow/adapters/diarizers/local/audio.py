"""Streaming audio decode with PyAV: any container FFmpeg reads, to 16 kHz float32 blocks.

Mono (FFmpeg's downmix) for the diarizers that hear the mix; every track
apart (:func:`stream_tracks`) for a multitrack recording.

A 6.7-hour episode is 1.5 GB as one float32 array, so nothing here holds the
whole file: :func:`stream_audio` yields fixed-size blocks, resampled frame by
frame, and callers keep only what they need. ``av`` is imported lazily.

Remote audio (``http(s)://``) is downloaded to a temporary file first, because
the diarizer reads the audio several times (voice activity, embeddings,
boundary refinement) and a second download would cost more than the disk
space. The file lives in diarflow's own temporary directory
(:mod:`diarflow.adapters.tempfiles`), so the download of a killed run is
removed by the next one. Downloads obey the audio-URL policy
(:mod:`diarflow.adapters.url_policy`): the host, and the host of every
redirect, must resolve to public addresses unless ``allow_private`` is set,
and the connection goes to the address checked (SSRF guard,
:mod:`diarflow.adapters.pinned_http`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
from numpy.typing import NDArray

from diarflow.adapters.audio_format import SAMPLE_RATE
from diarflow.adapters.tempfiles import temporary_directory
from diarflow.domain.speaker_counts import check_speaker_counts
from diarflow.errors import AudioError, InvalidInput

if TYPE_CHECKING:
    from diarflow.adapters.diarizers.base import DiarizationJob
    from diarflow.adapters.url_policy import UrlPolicy

BLOCK_SECONDS = 30.0

_LOCAL_SCHEMES = ("", "file")
_REMOTE_SCHEMES = ("http", "https")


@contextmanager
def job_audio_path(job: DiarizationJob, policy: UrlPolicy | None = None) -> Iterator[Path]:
    """The job's audio as a local path, after checking there is audio and its speaker-count hints."""
    if not job.audio:
        raise InvalidInput("audio", "the local diarizer needs the episode's audio (a path or an http(s) URL)")
    check_speaker_counts(job.num_speakers, job.min_speakers, job.max_speakers)
    with local_audio_path(job.audio, policy) as path:
        yield path


@contextmanager
def local_audio_path(audio: str, policy: UrlPolicy | None = None) -> Iterator[Path]:
    """A local path for ``audio`` (a path, ``file://`` or ``http(s)://`` URL); downloads are removed after.

    ``policy``: which addresses a download may reach; None means the strict default
    (public addresses only).
    """
    parts = urlsplit(audio)
    scheme = parts.scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    if scheme in _LOCAL_SCHEMES:
        path = Path(parts.path if scheme == "file" else audio)
        if not path.exists():
            raise AudioError(f"file not found: {path}")
        if not path.is_file():
            raise AudioError(f"not a file: {path}")
        yield path
        return
    if scheme not in _REMOTE_SCHEMES:
        raise AudioError(f"unsupported URL scheme {scheme!r}: give a local path, file://, http:// or https://")
    with temporary_directory("audio") as folder:
        target = folder / "audio"
        _download(audio, target, policy)
        yield target


def _download(url: str, target: Path, policy: UrlPolicy | None = None) -> None:
    import httpx

    from diarflow.adapters.pinned_http import pinned_client
    from diarflow.adapters.url_policy import UrlPolicy

    # Every connection, redirects included, goes to an address the policy checked (no second DNS lookup).
    shown = urlsplit(url)._replace(query="", fragment="").geturl()  # a signed URL's query is a credential
    try:
        with pinned_client(policy or UrlPolicy(), timeout=60.0) as client, client.stream("GET", url) as response:
            if response.status_code != 200:
                raise AudioError(f"downloading {shown} failed with HTTP {response.status_code}")
            with target.open("wb") as sink:
                for chunk in response.iter_bytes(1 << 20):
                    sink.write(chunk)
    except httpx.HTTPError as exc:
        raise AudioError(f"downloading {shown} failed: {type(exc).__name__}") from None


def probe_duration(path: Path) -> float | None:
    """The container's duration in seconds, when it states one (used only for progress)."""
    av = _import_av()
    try:
        with av.open(str(path)) as container:
            if container.duration is not None:
                return float(container.duration) / 1_000_000
            stream = container.streams.audio[0] if container.streams.audio else None
            if stream is not None and stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
    except Exception:
        return None
    return None


def stream_audio(path: Path, block_seconds: float = BLOCK_SECONDS) -> Iterator[NDArray[np.float32]]:
    """Yield consecutive mono 16 kHz float32 blocks of ``block_seconds`` (the last one shorter).

    Raises :class:`AudioError` when the file is not audio or cannot be decoded.
    """
    for block in _stream_blocks(path, block_seconds, keep_tracks=False):
        yield block[0]


def stream_tracks(path: Path, block_seconds: float = BLOCK_SECONDS) -> Iterator[NDArray[np.float32]]:
    """Yield consecutive 16 kHz float32 blocks of every track, shape ``(tracks, samples)``, never downmixed.

    For a multitrack recording (a microphone per person) each row is one
    person's track; a block holds ``block_seconds`` of each (the last one shorter),
    so memory stays at a few MB whatever the length. Raises :class:`AudioError`
    like :func:`stream_audio`.
    """
    yield from _stream_blocks(path, block_seconds, keep_tracks=True)


def count_tracks(path: Path) -> int:
    """How many channels (tracks) the file's first audio stream holds; :class:`AudioError` when it has none."""
    with _open_audio(path) as (_, stream):
        return _track_count(stream)


@contextmanager
def _open_audio(path: Path) -> Iterator[tuple[Any, Any]]:
    """The opened container and its first audio stream; :class:`AudioError` when there is none."""
    av = _import_av()
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise AudioError(f"{path.name} is not a readable audio file ({_reason(exc)})") from None
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path.name} has no audio stream")
        yield container, container.streams.audio[0]


def _track_count(stream: Any) -> int:
    # A WAV without a channel mask has a layout of "N channels" (no named positions): its count still holds.
    return len(stream.layout.channels) or int(stream.codec_context.channels)


def _stream_blocks(path: Path, block_seconds: float, *, keep_tracks: bool) -> Iterator[NDArray[np.float32]]:
    """``(tracks, samples)`` blocks: one row (FFmpeg's downmix) unless ``keep_tracks``."""
    av = _import_av()
    block = int(block_seconds * SAMPLE_RATE)
    pending: list[NDArray[np.float32]] = []
    pending_size = 0
    with _open_audio(path) as (container, stream):
        tracks = _track_count(stream) if keep_tracks else 1
        # Planar float keeps each track in its own plane: to_ndarray() is (tracks, samples).
        layout = stream.layout if keep_tracks else "mono"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pending.append(_samples(out, tracks))
                    pending_size += pending[-1].shape[1]
                while pending_size >= block:
                    data = np.concatenate(pending, axis=1)
                    yield data[:, :block]
                    pending = [data[:, block:]]
                    pending_size = pending[0].shape[1]
            for out in resampler.resample(None):
                pending.append(_samples(out, tracks))
        except av.error.FFmpegError as exc:
            raise AudioError(f"{path.name} could not be decoded ({_reason(exc)})") from None
    if pending:
        rest = np.concatenate(pending, axis=1)
        for start in range(0, rest.shape[1], block):
            yield rest[:, start : start + block]


def _samples(frame: Any, tracks: int) -> NDArray[np.float32]:
    # Planar "fltp": one plane per track, shape (tracks, n).
    array = frame.to_ndarray()
    return np.ascontiguousarray(array.reshape(tracks, -1), dtype=np.float32)


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "strerror", None) or exc)
    return text.split(": '")[0][:200]


def _import_av() -> Any:
    try:
        import av
    except ImportError:
        from diarflow.errors import DiarizerUnavailable

        raise DiarizerUnavailable("PyAV is not installed: pip install 'diarflow[local]'") from None
    return av


def file_size(path: Path) -> int:
    return os.stat(path).st_size
