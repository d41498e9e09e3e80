"""Events that start and end runs (README, "Running on Inngest": the functions' table).

Event payloads are validated at the boundary: a malformed event fails with a
message naming the field before any step runs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field

from diarflow.contracts._base import Contract, ContractT, EpisodeId, PodcastId, StoreKey, TimePoint, parse_contract
from diarflow.contracts.results import ErrorSummary, PipelineResult

TRANSCRIBE_REQUESTED = "episode.transcribe.requested"
TRANSCRIBED = "episode.transcribed.deepgram.completed"
DIARIZATION_COMPLETED = "episode.diarization.completed"
DIARIZATION_FAILED = "episode.diarization.failed"
PYANNOTE_JOB_COMPLETED = "pyannote/job.completed"

MAX_URL_LENGTH = 4096


class TranscribeRequested(Contract):
    """Data of ``episode.transcribe.requested``."""

    episode_id: EpisodeId
    podcast_id: PodcastId | None = None
    audio_url: str = Field(min_length=1, max_length=MAX_URL_LENGTH)
    rerun: str | None = Field(default=None, max_length=128)


class DiarizeRequested(Contract):
    """Data of ``episode.transcribed.deepgram.completed``: the diarization trigger."""

    episode_id: EpisodeId
    audio_url: str | None = Field(default=None, max_length=MAX_URL_LENGTH)
    transcript_key: StoreKey = Field(validation_alias=AliasChoices("transcript_key", "s3_transcript_key"))
    podcast_id: PodcastId | None = None
    duration: TimePoint | None = None
    """The audio's length, so no later than :data:`~diarflow.contracts.MAX_SECONDS`."""
    word_count: int | None = Field(default=None, ge=0)
    rerun: str | None = Field(default=None, max_length=128)


class DiarizationFailed(Contract):
    """Data of ``episode.diarization.failed``."""

    episode_id: EpisodeId
    status: Literal["failed"] = "failed"
    s3_error_key: str | None
    error: ErrorSummary


DiarizationCompleted = PipelineResult
"""``episode.diarization.completed`` carries the lightweight result as its data."""


def parse_event_data(model: type[ContractT], data: object, *, where: str = "event.data") -> ContractT:
    """Validate an event payload, turning pydantic's error into one naming the field (``event.data.<field>``)."""
    return parse_contract(model, data, where=where)
