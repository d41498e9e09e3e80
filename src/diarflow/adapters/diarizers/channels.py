"""The ``channels`` diarizer: one speaker per track of a multichannel recording, no model.

For a podcast recorded with a microphone per person and transcribed with
``multichannel=true``, the track a word was heard on says who spoke it. The
speech of each track comes from its own words and, when the multitrack audio
is given, from silero-vad run on that track alone, minus the frames where
another track is much louder (bleed); the rules are in
:mod:`diarflow.domain.channels`.

The audio is decoded once, every track apart (never downmixed), in 30 s
blocks: one VAD state and one level per 32 ms frame per track, so a 6.7-hour
two-track episode costs a few MB (``benchmarks/bench_channels_diarizer.py``).

What the audio cannot settle is said, not guessed: mono audio (a mixdown)
falls back to the words with a warning; audio whose track count differs from
the transcript's channels is refused (it is not the recording that was
transcribed, so its tracks cannot be matched to the channels); a transcript of
one channel is :class:`~diarflow.errors.DiarizerUnavailable`, and the pipeline
falls back to Deepgram's labels as for any diarizer that cannot run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from diarflow.adapters.audio_format import SAMPLE_RATE
from diarflow.adapters.diarizers.base import DiarizationJob, DiarizerOutput
from diarflow.adapters.diarizers.local import audio as audio_io
from diarflow.adapters.diarizers.local.vad import FRAME, FRAME_SECONDS, speech_regions, vad_available
from diarflow.adapters.url_policy import UrlPolicy
from diarflow.domain.channels import (
    BLEED_MARGIN_DB,
    MAX_WORD_GAP,
    channel_turns,
    heard_speech,
    speaker_channels,
    word_speech,
)
from diarflow.domain.transcript import Transcript
from diarflow.errors import DiarizerUnavailable, InvalidInput

MODEL_NAME = "channels (one speaker per track)"
MODEL_NAME_AUDIO = "channels (one speaker per track, silero-vad per track)"
SINGLE_CHANNEL = "the channels diarizer needs a multichannel transcript (multichannel=true)"
_SILENT_DB = -100.0
"""Level of a frame of digital silence (log of zero): far below any microphone's noise floor."""


@dataclass
class ChannelsDiarizer:
    """Diarizes a multichannel transcript by track; hears each track when its audio is given."""

    url_policy: UrlPolicy = field(default_factory=UrlPolicy)
    """Which hosts an ``http(s)`` audio download may reach (strict by default: public addresses only)."""
    block_seconds: float = audio_io.BLOCK_SECONDS
    source: Literal["channels"] = "channels"

    def diarize(self, job: DiarizationJob) -> DiarizerOutput:
        transcript = job.transcript
        if not transcript.is_multichannel:
            raise DiarizerUnavailable(f"{SINGLE_CHANNEL}; this one has a single channel")
        warnings: list[str] = []
        if not job.audio:
            speech = word_speech(transcript)
            model = MODEL_NAME
        elif not vad_available():
            warnings.append(
                "the audio was not listened to: voice activity per track needs PyAV, onnxruntime and silero-vad "
                "(pip install 'diarflow[local]'); each track's speech comes from its words only"
            )
            speech, model = word_speech(transcript), MODEL_NAME
        else:
            with audio_io.local_audio_path(job.audio, self.url_policy) as path:
                speech, heard = self.listen(path, transcript, warnings)
            model = MODEL_NAME_AUDIO if heard else MODEL_NAME
        turns = channel_turns(speech)
        return DiarizerOutput(
            turns=turns,
            model=model,
            warnings=tuple(warnings),
            speaker_channels=speaker_channels(turns, transcript.num_channels),
            num_channels=transcript.num_channels,
        )

    def listen(self, path: Path, transcript: Transcript, warnings: list[str]) -> tuple[list[NDArray[np.float64]], bool]:
        """Each channel's speech from its track and its words; (speech, whether the audio was used)."""
        tracks = audio_io.count_tracks(path)
        if tracks == 1:
            warnings.append(
                f"{path.name} is mono (a mixdown): its tracks cannot be heard apart, so each channel's speech "
                "comes from its words only; give the multitrack recording that was transcribed to use the audio"
            )
            return word_speech(transcript), False
        if tracks != transcript.num_channels:
            raise InvalidInput(
                "audio",
                f"{path.name} has {tracks} tracks but the transcript has {transcript.num_channels} channels: it is "
                "not the recording that was transcribed; give that one, or run without audio to diarize from the "
                "words",
            )
        probabilities, levels, duration = self.scan(path, tracks)
        return track_speech(probabilities, levels, duration, transcript), True

    def scan(self, path: Path, tracks: int) -> tuple[list[NDArray[np.float32]], NDArray[np.float32], float]:
        """One decode: VAD probabilities and the level (dB) of every 32 ms frame of every track, and the seconds."""
        from diarflow.adapters.diarizers.local.vad import SileroVad

        first = SileroVad.load()
        vads = [first] + [SileroVad(session=first.session, sequence=first.sequence) for _ in range(tracks - 1)]
        for vad in vads:
            vad.reset()
        levels = FrameLevels(tracks)
        samples = 0
        for block in audio_io.stream_tracks(path, self.block_seconds):
            if block.shape[0] != tracks:  # FFmpeg reported one layout and decoded another
                raise InvalidInput("audio", f"{path.name} changes its number of tracks while playing")
            for track, vad in enumerate(vads):
                vad.push(block[track])
            levels.push(block)
            samples += block.shape[1]
        return [vad.finish() for vad in vads], levels.finish(), samples / SAMPLE_RATE


def track_speech(
    probabilities: Sequence[NDArray[np.float32]],
    levels_db: NDArray[np.float32],
    duration: float,
    transcript: Transcript,
    *,
    bleed_margin_db: float = BLEED_MARGIN_DB,
    max_gap: float = MAX_WORD_GAP,
) -> list[NDArray[np.float64]]:
    """Each channel's speech from a :meth:`ChannelsDiarizer.scan` of its tracks and its words (no I/O).

    ``probabilities[c]``: track ``c``'s VAD probability per frame; ``levels_db``: (tracks, frames)
    levels; ``duration``: seconds of audio. ``bleed_margin_db`` and ``max_gap`` are the rules of
    :func:`~diarflow.domain.channels.heard_speech` and :func:`~diarflow.domain.channels.word_speech`.
    """
    vad_speech = [speech_regions(track, duration=duration) for track in probabilities]
    words = word_speech(transcript, max_gap=max_gap)
    return heard_speech(vad_speech, levels_db, words, frame_seconds=FRAME_SECONDS, bleed_margin_db=bleed_margin_db)


class FrameLevels:
    """Streaming level in dB of every VAD frame (``vad.FRAME`` samples) of each track, aligned with the VAD's."""

    def __init__(self, tracks: int, frame: int = FRAME) -> None:
        self.frame = frame
        self._pending = np.zeros((tracks, 0), dtype=np.float32)
        self._levels: list[NDArray[np.float32]] = []

    def push(self, block: NDArray[np.float32]) -> None:
        samples = np.concatenate((self._pending, block), axis=1) if self._pending.shape[1] else block
        whole = samples.shape[1] // self.frame * self.frame
        if whole:
            self._levels.append(self._db(samples[:, :whole].reshape(samples.shape[0], -1, self.frame)))
        self._pending = samples[:, whole:].copy()

    def finish(self) -> NDArray[np.float32]:
        """(tracks, frames) levels; the last partial frame is zero-padded, as the VAD pads it."""
        if self._pending.shape[1]:
            last = np.zeros((self._pending.shape[0], 1, self.frame), dtype=np.float32)
            last[:, 0, : self._pending.shape[1]] = self._pending
            self._levels.append(self._db(last))
            self._pending = self._pending[:, :0]
        if not self._levels:
            return np.zeros((self._pending.shape[0], 0), dtype=np.float32)
        levels: NDArray[np.float32] = np.concatenate(self._levels, axis=1)
        return levels

    @staticmethod
    def _db(frames: NDArray[np.float32]) -> NDArray[np.float32]:
        power: NDArray[np.float32] = np.mean(np.square(frames, dtype=np.float32), axis=2)
        with np.errstate(divide="ignore"):
            levels: NDArray[np.float32] = np.maximum(10.0 * np.log10(power), _SILENT_DB).astype(np.float32)
        return levels


def load_channels_diarizer(url_policy: UrlPolicy | None = None) -> ChannelsDiarizer:
    """The channels diarizer; it loads the VAD model only when a job brings audio."""
    return ChannelsDiarizer(url_policy=url_policy or UrlPolicy())
