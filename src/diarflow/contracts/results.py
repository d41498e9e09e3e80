"""What steps and functions return: keys and a few numbers, never episode data.

Every model here has a bounded size whatever the episode's length; a test
checks the serialized result stays under :data:`MAX_RESULT_BYTES` at
10,000+ segments and 100,000+ words.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from diarflow.contracts._base import Contract, EpisodeId, Seconds
from diarflow.contracts.artifacts import DiarizationSourceName, RunStatus

MAX_RESULT_BYTES = 2048
"""Upper bound of a serialized :class:`PipelineResult` (DESIGN.md §5)."""


MAX_RESULT_WARNINGS = 3
WarningText = Annotated[str, Field(max_length=200)]


class RunStats(Contract):
    """The result's ``stats``. ``duration`` is speech time: the sum of segment durations."""

    num_segments: int = Field(ge=0)
    duration: Seconds
    num_speakers: int = Field(ge=0)
    num_words: int = Field(ge=0)
    identified_speakers: int = Field(ge=0)


class ErrorSummary(Contract):
    """The short form of an error carried in results and failure events."""

    type: str
    message: str = Field(max_length=500)


class PipelineResult(Contract):
    """The function result and the data of ``episode.diarization.completed``."""

    episode_id: EpisodeId
    status: RunStatus
    source: DiarizationSourceName | None
    s3_diarization_key: str | None
    s3_enriched_key: str | None
    s3_audit_key: str | None
    s3_error_key: str | None
    stats: RunStats
    error: ErrorSummary | None = None
    warnings: list[WarningText] = Field(default_factory=list, max_length=MAX_RESULT_WARNINGS)
    """What went unusually but not wrong (e.g. a transcript without words: nothing to attribute)."""


# --- per-step results (small by construction) ------------------------------------------


class TranscriptInfo(Contract):
    """``inspect-transcript-v1``: the stored transcript is readable; its size."""

    transcript_key: str
    digest: str
    num_words: int = Field(ge=0)
    num_utterances: int = Field(ge=0)
    duration: Seconds
    has_speakers: bool


class DiarizationInfo(Contract):
    """A diarization step wrote ``diarization/<id>.json``."""

    s3_diarization_key: str
    source: DiarizationSourceName
    digest: str
    num_segments: int = Field(ge=0)
    num_speakers: int = Field(ge=0)
    duration: Seconds


class IdentificationInfo(Contract):
    """``identify-speakers-v1`` wrote the audit artifact (clusters and the speaker map)."""

    s3_audit_key: str
    digest: str
    num_speakers: int = Field(ge=0)
    identified_speakers: int = Field(ge=0)
    registry_status: str
    registry_prefix: str | None = None
    """The voiceprints consulted: an engine that caches steps reruns this one when they change."""
    error: ErrorSummary | None = None
    warnings: list[WarningText] = Field(default_factory=list, max_length=MAX_RESULT_WARNINGS)
    """E.g. voiceprints left out because their model is outdated (also in the audit's ``warnings``)."""


class EnrichmentInfo(Contract):
    """``enrich-transcript-v1`` wrote the enriched transcript."""

    s3_enriched_key: str
    digest: str
    num_words: int = Field(ge=0)
    unattributed_words: int = Field(ge=0)


class VerificationInfo(Contract):
    """``verify-artifacts-v1``: the artifacts the result names read back as their steps wrote them.

    ``lost`` lists those that are gone or changed, and ``error`` says so; the keys are named
    so that an engine that caches steps (the local runner) checks them again on a rerun.
    """

    s3_diarization_key: str
    s3_audit_key: str
    s3_enriched_key: str
    lost: list[str] = Field(default_factory=list, max_length=3)
    error: ErrorSummary | None = None


class ErrorLogInfo(Contract):
    """``update-error-log-v1`` wrote the error artifact."""

    s3_error_key: str
    num_errors: int = Field(ge=0)
