"""What steps and functions return: keys and a few numbers, never episode data.

Every model here has a bounded size whatever the episode's length; a test
checks the serialized result stays under :data:`MAX_RESULT_BYTES` at
10,000+ segments and 100,000+ words.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from diarflow.contracts._base import Contract, EpisodeId, Seconds, StoreKey
from diarflow.contracts.artifacts import DiarizationSourceName, RunStatus

MAX_RESULT_BYTES = 2048
"""Upper bound of a serialized :class:`PipelineResult` (docs/architecture.md, "Contracts")."""


ResolvedDiarizer = Literal["pyannote", "local", "deepgram", "channels"]
"""A diarizer a run actually uses (``auto`` resolved)."""

MAX_RESULT_WARNINGS = 3
MAX_WARNING = 200
"""Characters of one warning in a step result or the audit."""
WarningText = Annotated[str, Field(max_length=MAX_WARNING)]


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


class StepResult(Contract):
    """What one step returns, and the store objects it stands for.

    An engine that caches step results (the local runner) reuses one only while
    every object it declares is unchanged: the keys in :attr:`key_fields` (the
    inputs the step read, the artifacts it wrote) and the listings of the
    prefixes in :attr:`prefix_fields` (a registry it consulted). A field is
    checked because its model says so, never because of how it is named.
    """

    key_fields: ClassVar[tuple[str, ...]] = ()
    """Fields holding store keys the result depends on (None: nothing to check)."""
    prefix_fields: ClassVar[tuple[str, ...]] = ()
    """Fields holding store prefixes whose listing the step read."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        unknown = sorted(set(cls.key_fields + cls.prefix_fields) - set(cls.model_fields))
        if unknown:  # a typo would silently leave an artifact unchecked
            raise TypeError(f"{cls.__name__} declares store dependencies on fields it does not have: {unknown}")

    def store_keys(self) -> list[str]:
        """The store keys this result depends on, sorted."""
        return sorted(value for value in (getattr(self, name) for name in self.key_fields) if isinstance(value, str))

    def store_prefixes(self) -> list[str]:
        """The store prefixes whose listing this result depends on, sorted."""
        return sorted(value for value in (getattr(self, name) for name in self.prefix_fields) if isinstance(value, str))

    def degraded_by(self) -> ErrorSummary | None:
        """The error a step survived in a degraded way; a cached copy of such a result would hide it from reruns."""
        return None


class StoredRef(Contract):
    """An object in the store and the digest of the bytes a step read or wrote there.

    Steps pass these downstream: the digest travels with its key (no two can be swapped),
    and a changed input changes the arguments of every step that reads it.
    """

    key: StoreKey
    digest: str = Field(pattern=r"^[0-9a-f]{24}$")
    """A content digest as :func:`diarflow.orchestration.workspace.digest` makes it (blake2b, 12 bytes, hex)."""


class TranscriptInfo(StepResult):
    """``inspect-transcript-v1``: the stored transcript is readable; its size."""

    key_fields = ("transcript_key",)

    transcript_key: str
    digest: str
    num_words: int = Field(ge=0)
    num_utterances: int = Field(ge=0)
    duration: Seconds
    has_speakers: bool

    @property
    def ref(self) -> StoredRef:
        return StoredRef(key=self.transcript_key, digest=self.digest)


class DiarizationInfo(StepResult):
    """A diarization step wrote ``diarization/<id>.json``."""

    key_fields = ("s3_diarization_key",)

    s3_diarization_key: str
    source: DiarizationSourceName
    digest: str
    num_segments: int = Field(ge=0)
    num_speakers: int = Field(ge=0)
    duration: Seconds

    @property
    def ref(self) -> StoredRef:
        return StoredRef(key=self.s3_diarization_key, digest=self.digest)


class CorrectionsInfo(StepResult):
    """``apply-corrections-v1``: the diarization the later steps read, with the episode's corrections applied.

    ``s3_diarization_key`` is ``diarization/<id>.corrected.json`` when there are corrections, else the raw
    diarization passed through. ``s3_corrections_key`` is declared even while nothing is stored there, so an
    engine that caches steps reruns this one (and every step after it) when corrections appear or change.
    """

    key_fields = ("s3_corrections_key", "s3_diarization_key")

    s3_corrections_key: str
    s3_diarization_key: str
    digest: str
    num_corrections: int = Field(ge=0)
    num_speakers: int = Field(ge=0)

    @property
    def ref(self) -> StoredRef:
        return StoredRef(key=self.s3_diarization_key, digest=self.digest)


class IdentificationInfo(StepResult):
    """``identify-speakers-v1`` wrote the audit artifact (clusters and the speaker map)."""

    key_fields = ("s3_audit_key",)
    prefix_fields = ("registry_prefix",)

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

    @property
    def ref(self) -> StoredRef:
        return StoredRef(key=self.s3_audit_key, digest=self.digest)

    def degraded_by(self) -> ErrorSummary | None:
        return self.error


class EnrichmentInfo(StepResult):
    """``enrich-transcript-v1`` wrote the enriched transcript."""

    key_fields = ("s3_enriched_key",)

    s3_enriched_key: str
    digest: str
    num_words: int = Field(ge=0)
    unattributed_words: int = Field(ge=0)

    @property
    def ref(self) -> StoredRef:
        return StoredRef(key=self.s3_enriched_key, digest=self.digest)


class VerificationInfo(StepResult):
    """``verify-artifacts-v1``: the artifacts the result names read back as their steps wrote them.

    ``lost`` lists those that are gone or changed, and ``error`` says so; the keys are
    declared so that an engine that caches steps (the local runner) checks them again on a rerun.
    """

    key_fields = ("s3_diarization_key", "s3_audit_key", "s3_enriched_key")

    s3_diarization_key: str
    s3_audit_key: str
    s3_enriched_key: str
    lost: list[str] = Field(default_factory=list, max_length=3)
    error: ErrorSummary | None = None

    def degraded_by(self) -> ErrorSummary | None:
        return self.error


class ErrorLogInfo(StepResult):
    """``update-error-log-v1``: the error artifact written, or a stale one removed (no key)."""

    key_fields = ("s3_error_key",)

    s3_error_key: str | None
    num_errors: int = Field(ge=0)


class ReportInfo(StepResult):
    """``render-report-v1`` wrote the HTML report."""

    key_fields = ("s3_report_key",)

    s3_report_key: str


class TranscriptionStats(Contract):
    words: int = Field(ge=0)
    duration: Seconds


class TranscriptionInfo(StepResult):
    """``transcribe-deepgram-v1`` wrote Deepgram's response at ``transcript_key``."""

    key_fields = ("transcript_key",)

    episode_id: EpisodeId
    transcript_key: str
    stats: TranscriptionStats


class SubmittedJob(StepResult):
    """``pyannote-submit-v1``: the job started (never the audio URL: a pre-signed one carries credentials)."""

    job_id: str
    status: str
    model: str
    voiceprint_labels: list[tuple[str, str]] | None = Field(default=None, exclude_if=lambda labels: labels is None)
    """``[label, voiceprint_id]`` pairs of an identification job, absent for a plain diarization."""


class JobStatus(StepResult):
    """``pyannote-poll-v1.<n>``: the job's status, nothing more (its output can be megabytes)."""

    job_id: str
    status: str


class DiarizerChosen(StepResult):
    """``choose-diarizer-v1``: ``auto`` resolved on the worker that started the run."""

    diarizer: ResolvedDiarizer


class EventsSent(StepResult):
    """A local ``send_event`` step: how many events went to the sink."""

    sent: int = Field(ge=0)
