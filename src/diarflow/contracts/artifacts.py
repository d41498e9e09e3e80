"""Artifacts written to the store (README, "What you get"; docs/architecture.md, "Contracts").

These models are the source of truth for each artifact's JSON. The hot path
(alignment over ~80,000 words) writes enriched words without building a model
per word; tests validate its output against :class:`EnrichedTranscript`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from diarflow.contracts._base import MAX_CHANNELS, SCHEMA_VERSION, Contract, EpisodeId, Probability, Seconds, TimePoint
from diarflow.contracts.corrections import NameCorrection
from diarflow.contracts.voiceprints import IdentifiedSegment, VoiceprintMatch

DiarizationSourceName = Literal["pyannote", "local", "deepgram_fallback", "channels"]
RunStatus = Literal["completed", "partial", "failed"]
ChannelIndex = Annotated[int, Field(ge=0, lt=MAX_CHANNELS)]
"""A track of a multichannel recording, 0-based as Deepgram numbers ``results.channels``."""
UNKNOWN_SPEAKER = "UNKNOWN"
"""``diar_speaker`` of a word that no turn covers within the gap tolerance."""


# --- raw diarization -----------------------------------------------------------


class DiarizationSegment(Contract):
    """One speaker turn as a diarizer reported it."""

    start: TimePoint
    end: TimePoint
    speaker: str = Field(min_length=1, max_length=256)
    confidence: Probability | None = None

    @model_validator(mode="after")
    def _end_after_start(self) -> DiarizationSegment:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class SpeakerTracks(Contract):
    """Which track each speaker was recorded on, when the speakers are per track (both fields optional).

    Written by the ``channels`` diarizer and by the Deepgram fallback on a
    multichannel transcript; other sources leave both out.
    """

    num_channels: int | None = Field(default=None, ge=2, le=MAX_CHANNELS)
    """Tracks (channels) of the multichannel transcript the speakers come from."""
    speaker_channels: dict[str, ChannelIndex] | None = None
    """The track (0-based channel) of each speaker that belongs to one."""

    @field_validator("speaker_channels")
    @classmethod
    def _channels_exist(cls, value: dict[str, int] | None, info: ValidationInfo) -> dict[str, int] | None:
        count = info.data.get("num_channels")  # None too when num_channels itself was refused
        for speaker, channel in (value or {}).items():
            if count is None:
                raise ValueError(f"speaker {speaker!r} is on channel {channel}, but num_channels is not given")
            if channel >= count:
                raise ValueError(f"speaker {speaker!r} is on channel {channel}, but num_channels is {count}")
        return value


class ClusterEmbeddings(Contract):
    """Each diarization speaker's voice as the diarizer embedded it, so identification needs no second pass.

    Written by the local diarizer (CAM++); identification uses it only when ``model`` is the
    voiceprints' model and every cluster has a row, and embeds the clusters' audio otherwise.
    """

    model: str = Field(min_length=1, max_length=256)
    speakers: dict[str, list[float]]
    """Speaker label -> embedding (any length; cosine similarity is what is compared)."""

    @field_validator("speakers")
    @classmethod
    def _one_width(cls, value: dict[str, list[float]]) -> dict[str, list[float]]:
        widths = {len(vector) for vector in value.values()}
        if len(widths) > 1 or 0 in widths:
            raise ValueError(f"every speaker's embedding must have the same, non-zero length, got {sorted(widths)}")
        return value


class RawDiarization(SpeakerTracks):
    """``diarization/<id>.json``: what the diarizer said, before identification (plus :class:`SpeakerTracks`)."""

    schema_version: int = SCHEMA_VERSION
    episode_id: EpisodeId
    source: DiarizationSourceName
    model: str | None = None
    job_id: str | None = None
    created_at: str
    segments: list[DiarizationSegment]
    exclusive_segments: list[DiarizationSegment] | None = None
    """One-speaker-at-a-time turns, when the diarizer provides them (pyannoteAI ``exclusive``)."""
    warnings: list[str] = Field(default_factory=list)
    voiceprint_matches: list[VoiceprintMatch] | None = None
    """pyannoteAI's per-speaker voiceprint scores, when the job was ``/v1/identify``."""
    identification_segments: list[IdentifiedSegment] | None = None
    """pyannoteAI's per-turn identification (``identification[]``), when the job was ``/v1/identify``."""
    cluster_embeddings: ClusterEmbeddings | None = None
    """The diarizer's own embedding of each speaker, when it has one (the local diarizer)."""
    corrected_names: dict[str, NameCorrection] | None = None
    """Only in ``diarization/<id>.corrected.json``: the names corrections gave, by speaker (docs/corrections.md)."""


# --- enriched transcript ------------------------------------------------------------


class Alternative(Contract):
    """Another speaker a word could belong to, kept for the audit."""

    speaker: str
    confidence: Probability


class EnrichedWord(Contract):
    """One transcript word with the speaker it was attributed to (spec schema)."""

    start: TimePoint
    end: TimePoint
    word: str
    speaker: str | None
    speaker_confidence: Probability | None
    diar_speaker: str
    source: DiarizationSourceName
    alternatives: list[Alternative] | None = None
    channel: ChannelIndex | None = None
    """The track the word was heard on, in a multichannel transcript."""


class SpeakerEntry(Contract):
    """How a diarization speaker is shown in the enriched transcript."""

    diar_speaker: str
    label: str
    speaker: str
    identified: bool
    channel: ChannelIndex | None = None
    """The track this speaker was recorded on, when the speaker is one track's (``channels``, multichannel fallback)."""


class EnrichedTranscript(Contract):
    """``diarization/<id>.enriched.json``."""

    schema_version: int = SCHEMA_VERSION
    episode_id: EpisodeId
    source: DiarizationSourceName
    created_at: str
    speakers: list[SpeakerEntry]
    words: list[EnrichedWord]


# --- audit ---------------------------------------------------------------------------


class RepresentativeSegment(Contract):
    """The segment chosen to stand for a cluster (and its clip, when written)."""

    start: TimePoint
    end: TimePoint
    confidence: Probability | None = None
    clip_key: str | None = Field(default=None, alias="clipKey")


class ClusterSummary(Contract):
    """One diarization speaker after clustering (spec ``ClusterSummary``)."""

    speaker_key: str = Field(alias="speakerKey")
    label: str
    duration: Seconds
    segments_count: int = Field(alias="segmentsCount", ge=0)
    mapped_to: str | None = Field(default=None, alias="mappedTo")
    reference_id: str | None = Field(default=None, alias="referenceId")
    confidence: Probability | None = None
    """Identification confidence; null when the cluster was not identified."""
    diarization_confidence: Probability | None = Field(default=None, alias="diarizationConfidence")
    representative: RepresentativeSegment | None = None
    channel: ChannelIndex | None = None
    """The track (0-based channel) this cluster belongs to, when it is one track's; null otherwise."""
    named_by: NameCorrection | None = Field(default=None, alias="namedBy")
    """The correction that named this cluster (``mappedTo``), when a person did rather than a voiceprint."""
    embedding: list[float] | None = Field(default=None, max_length=1024)
    """The cluster's CAM++ embedding (``campplus-cn-en-common``, 192 numbers), when identification computed one
    (or the diarizer gave one): what ``diarflow speakers recurring`` compares across episodes."""


class NearMiss(Contract):
    """A voiceprint match that came close to (or close to beating) the decision."""

    cluster_key: str = Field(alias="clusterKey")
    confidence: Probability
    threshold: Probability
    reference_id: str = Field(alias="referenceId")
    display_name: str | None = Field(default=None, alias="displayName")


class Thresholds(Contract):
    """The thresholds a run used, recorded so a decision can be re-checked."""

    near_miss_margin: Probability = Field(alias="nearMissMargin")
    gap_tolerance: Seconds = Field(alias="gapTolerance")
    fallback_confidence: Probability = Field(alias="fallbackConfidence")
    match_threshold: Probability | None = Field(default=None, alias="matchThreshold")
    short_enrolment_threshold: Probability | None = Field(default=None, alias="shortEnrolmentThreshold")
    """What a voiceprint enrolled from under ``shortEnrolmentSeconds`` of speech needed instead (local matching)."""
    short_enrolment_seconds: Seconds | None = Field(default=None, alias="shortEnrolmentSeconds")
    """Voiceprints enrolled from less speech than this were held to ``shortEnrolmentThreshold`` (6 s of speech
    heard; audits written before it was recorded used 5 s)."""
    match_margin: Probability | None = Field(default=None, alias="matchMargin")
    """How far an identification had to beat the next explanation (docs/identification.md)."""
    match_model: str | None = Field(default=None, alias="matchModel")
    """Whose scores the thresholds apply to: ``campplus-cn-en-common`` (``matchThreshold``, or
    ``shortEnrolmentThreshold`` for a short enrolment) or ``pyannoteai-<model>``."""


RegistryStatus = Literal["not_configured", "empty", "ok", "unavailable"]


class AuditArtifact(Contract):
    """``diarization/<id>.audit.json`` (spec ``PyannoteAuditArtifacts``)."""

    schema_version: int = SCHEMA_VERSION
    episode_id: EpisodeId
    created_at: str
    source: DiarizationSourceName
    clusters: list[ClusterSummary]
    total_segments: int = Field(alias="totalSegments", ge=0)
    near_misses: list[NearMiss] = Field(default_factory=list, alias="nearMisses")
    thresholds: Thresholds
    registry_status: RegistryStatus = Field(alias="registryStatus")
    warnings: list[str] = Field(default_factory=list)
    """What the reader of this audit should know (the diarization's warnings, e.g. a transcript without words)."""


# --- errors ----------------------------------------------------------------------------


class ErrorRecord(Contract):
    """One failure, as recorded in the error artifact and shown to operators."""

    step: str
    type: str
    message: str = Field(max_length=2000)
    retryable: bool
    attempt: int = Field(ge=1)
    occurred_at: str
    request_id: str | None = Field(default=None, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    """The remote API's id of the answer that failed (pyannoteAI's ``requestId``), for its support; null otherwise."""


class ErrorArtifact(Contract):
    """``diarization/<id>.error.json``: the errors of the latest run."""

    schema_version: int = SCHEMA_VERSION
    episode_id: EpisodeId
    status: Literal["failed", "partial"]
    errors: list[ErrorRecord]
