"""The diarizer interface: one protocol, one module per diarization source.

A :class:`Diarizer` runs inside one pipeline step and returns turns. Sources
that run as remote jobs (pyannoteAI) add submit/collect steps of their own
around the same output type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from diarflow.contracts import DiarizationSourceName
from diarflow.domain.transcript import Transcript
from diarflow.domain.turns import Turns

ProgressCallback = Callable[[str, float, float | None], None]
"""What an audio diarizer reports as it goes: ``(stage, seconds_done, seconds_total_or_None)``."""


@dataclass(frozen=True)
class DiarizationJob:
    """What a diarizer gets: the episode's audio and transcript, and speaker-count hints."""

    episode_id: str
    audio: str | None
    transcript: Transcript
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None


@dataclass(frozen=True)
class DiarizerOutput:
    """What a diarizer returns; ``exclusive`` is the one-speaker-at-a-time variant when available."""

    turns: Turns
    exclusive: Turns | None = None
    model: str | None = None
    job_id: str | None = None
    warnings: tuple[str, ...] = field(default=())
    speaker_channels: Mapping[str, int] | None = None
    """The track of each speaker that belongs to one (a multichannel transcript's channel, 0-based)."""
    num_channels: int | None = None
    """Tracks of the multichannel transcript the turns came from; None when the turns are not per track."""
    speaker_embeddings: SpeakerEmbeddings | None = None
    """The diarizer's own embedding of each speaker, when it computed one with a voiceprint model."""


@dataclass(frozen=True)
class SpeakerEmbeddings:
    """One embedding per speaker label, from the voiceprint model named ``model``."""

    model: str
    vectors: Mapping[str, tuple[float, ...]]

    def as_document(self) -> dict[str, object]:
        """The JSON shape of the raw diarization's ``cluster_embeddings`` (6 decimals: float32 precision)."""
        return {
            "model": self.model,
            "speakers": {speaker: [round(x, 6) for x in vector] for speaker, vector in self.vectors.items()},
        }


@runtime_checkable
class Diarizer(Protocol):
    """A diarization source that runs within a single step."""

    @property
    def source(self) -> DiarizationSourceName:
        """The ``source`` recorded in the raw diarization."""
        ...

    def diarize(self, job: DiarizationJob) -> DiarizerOutput:
        """Diarize the job's audio; raise a :class:`~diarflow.errors.DiarflowError` on failure."""
        ...
