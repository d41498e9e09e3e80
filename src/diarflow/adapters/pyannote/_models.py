"""The pyannoteAI API's JSON, as pydantic models (camelCase on the wire, snake_case in code).

Field names and shapes follow the API's OpenAPI description (docs.pyannote.ai):
requests are dumped with ``exclude_none`` so that an unset option takes the
API's default instead of an explicit ``null``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["pending", "created", "running", "succeeded", "failed", "canceled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "canceled"})
DiarizationModel = Literal["precision-2", "community-1"]
DEFAULT_MODEL: DiarizationModel = "precision-2"


class _Wire(BaseModel):
    """Lenient on input (the API may add fields), camelCase aliases on output."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    def to_wire(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- requests -------------------------------------------------------------------------------


class DiarizeRequest(_Wire):
    """``POST /v1/diarize``."""

    url: str
    model: str | None = DEFAULT_MODEL
    num_speakers: int | None = Field(default=None, alias="numSpeakers", ge=1)
    min_speakers: int | None = Field(default=None, alias="minSpeakers", ge=1)
    max_speakers: int | None = Field(default=None, alias="maxSpeakers", ge=1)
    confidence: bool | None = None
    turn_level_confidence: bool | None = Field(default=None, alias="turnLevelConfidence")
    exclusive: bool | None = None
    webhook: str | None = None
    webhook_status_only: bool | None = Field(default=None, alias="webhookStatusOnly")


class VoiceprintEntry(_Wire):
    """One reference voice for ``POST /v1/identify``; labels may not start with ``SPEAKER_``."""

    label: str = Field(max_length=100)
    voiceprint: str = Field(max_length=20000)


class MatchingOptions(_Wire):
    exclusive: bool | None = None
    threshold: float | None = Field(default=None, ge=0, le=100)


class IdentifyRequest(DiarizeRequest):
    """``POST /v1/identify``: diarize's fields plus the voiceprints to match against."""

    model: str | None = "precision-2"
    voiceprints: list[VoiceprintEntry] = Field(min_length=1, max_length=50)
    matching: MatchingOptions | None = None


class VoiceprintRequest(_Wire):
    """``POST /v1/voiceprint``: audio of one speaker, 30 s at most."""

    url: str
    model: str | None = "precision-2"
    webhook: str | None = None
    webhook_status_only: bool | None = Field(default=None, alias="webhookStatusOnly")


class MediaInputRequest(_Wire):
    """``POST /v1/media/input``."""

    url: str


# --- responses ------------------------------------------------------------------------------


class JobCreated(_Wire):
    """The answer to every job-creating POST."""

    job_id: str = Field(alias="jobId", min_length=1)
    status: JobStatus
    warning: str | None = None


class Segment(_Wire):
    """A diarization turn; ``confidence`` maps each speaker to 0–100 (with ``turnLevelConfidence``)."""

    speaker: str
    start: float
    end: float
    confidence: dict[str, float] | None = None


class SampleConfidence(_Wire):
    """Sample-level confidence: one 0–100 score per ``resolution`` seconds."""

    score: list[float]
    resolution: float


class IdentificationSegment(_Wire):
    """One turn of ``/v1/identify``'s ``identification[]`` (OpenAPI ``IdentificationSegment``).

    ``diarizationSpeaker`` and ``match`` are required; ``match`` is null where the
    matching settings (threshold, exclusive) matched no voiceprint. ``confidence``
    maps speakers to 0–100 ("that this speech turn matches each diarization
    speaker"), only with ``turnLevelConfidence``.
    """

    speaker: str | None = None
    start: float | None = None
    end: float | None = None
    confidence: dict[str, float] | None = None
    diarization_speaker: str = Field(alias="diarizationSpeaker", min_length=1)
    match: str | None


class IdentificationVoiceprint(_Wire):
    """One diarization speaker of ``/v1/identify``'s ``voiceprints[]`` (OpenAPI ``IdentificationVoiceprint``).

    All three fields are required, and ``match`` is a voiceprint label, never null;
    ``confidence`` maps every voiceprint label to 0–100.
    """

    speaker: str = Field(min_length=1)
    match: str = Field(min_length=1)
    confidence: dict[str, float]


class JobOutput(_Wire):
    """The ``output`` of a succeeded diarization, identification or voiceprint job."""

    diarization: list[Segment] | None = None
    exclusive_diarization: list[Segment] | None = Field(default=None, alias="exclusiveDiarization")
    confidence: SampleConfidence | None = None
    identification: list[IdentificationSegment] | None = None
    voiceprints: list[IdentificationVoiceprint] | None = None
    voiceprint: str | None = None
    warning: str | None = None
    error: str | None = None


class Job(_Wire):
    """``GET /v1/jobs/{jobId}``; ``output`` only on success, and only for 24 h after."""

    job_id: str = Field(alias="jobId")
    status: JobStatus
    created_at: str | None = Field(default=None, alias="createdAt")
    updated_at: str | None = Field(default=None, alias="updatedAt")
    output: JobOutput | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


class MediaUpload(_Wire):
    """The pre-signed URL to PUT the bytes to."""

    url: str


class WebhookPayload(_Wire):
    """What pyannoteAI POSTs to a job's webhook (``output`` absent with ``webhookStatusOnly``)."""

    job_id: str = Field(alias="jobId", min_length=1, max_length=256)
    status: JobStatus
