"""Events that start and end runs (DESIGN.md §5).

Event payloads are validated at the boundary: a malformed event fails with a
message naming the field before any step runs.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import AliasChoices, Field, ValidationError, field_validator

from diarflow.contracts._base import Contract, EpisodeId, PodcastId, Seconds
from diarflow.contracts.results import ErrorSummary, PipelineResult
from diarflow.errors import InvalidInput

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
    transcript_key: str = Field(
        min_length=1,
        max_length=1024,
        validation_alias=AliasChoices("transcript_key", "s3_transcript_key"),
    )
    podcast_id: PodcastId | None = None
    duration: Seconds | None = None
    word_count: int | None = Field(default=None, ge=0)
    rerun: str | None = Field(default=None, max_length=128)

    @field_validator("transcript_key")
    @classmethod
    def _is_a_key(cls, value: str) -> str:
        if "://" in value:
            raise ValueError("must be a storage key relative to the store root, not a URI")
        if value.startswith("/") or any(part in ("", ".", "..") for part in value.split("/")):
            raise ValueError("must be a relative key without empty, '.' or '..' parts")
        return value


class DiarizationFailed(Contract):
    """Data of ``episode.diarization.failed``."""

    episode_id: EpisodeId
    status: Literal["failed"] = "failed"
    s3_error_key: str | None
    error: ErrorSummary


DiarizationCompleted = PipelineResult
"""``episode.diarization.completed`` carries the lightweight result as its data."""


ModelT = TypeVar("ModelT", bound=Contract)


def parse_event_data(model: type[ModelT], data: object, *, where: str = "event.data") -> ModelT:
    """Validate an event payload, turning pydantic's error into one naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join([where, *(str(part) for part in first["loc"])]) if first["loc"] else where
        raise InvalidInput(path, first["msg"]) from None
    except InvalidInput as exc:  # raised by a validator itself (ids): the same path convention as pydantic's
        raise type(exc)(f"{where}.{exc.field}" if exc.field else where, exc.problem) from None
