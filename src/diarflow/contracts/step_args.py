"""What steps take: one argument model per step, passed by field name.

Engines serialise these to JSON (the local runner fingerprints them, Inngest
hands them to the step body) and validate them again on the other side, so a
missing, unknown or mistyped field fails naming it instead of reaching a step
body in the wrong place. Arguments stay small: keys and digests, never data.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from diarflow.contracts._base import Contract, EpisodeId, PodcastId, Seconds, StoreKey
from diarflow.contracts.artifacts import ErrorRecord, RunStatus
from diarflow.contracts.results import ErrorSummary, StoredRef

AudioSource = str
"""The episode audio as the trigger named it: an https:// URL, or a path in a local run."""


class StepArgs(Contract):
    """Base of every argument model: unknown fields are refused (a misspelt one would be silently dropped)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)


class SpeakerHints(Contract):
    """How many speakers the caller expects, when it knows."""

    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None


class InspectArgs(StepArgs):
    episode_id: EpisodeId
    transcript_key: StoreKey


class DiarizeArgs(StepArgs):
    episode_id: EpisodeId
    transcript: StoredRef
    audio: AudioSource | None = None
    hints: SpeakerHints = SpeakerHints()


class CorrectionsArgs(StepArgs):
    episode_id: EpisodeId
    diarization: StoredRef
    """The raw diarization the corrections apply to."""
    episode_end: Seconds
    """The transcript's duration: no correction may reach past it (nor past the last turn, if later)."""


class IdentifyArgs(StepArgs):
    episode_id: EpisodeId
    diarization: StoredRef
    podcast_id: PodcastId | None = None
    audio: AudioSource | None = None


class EnrichArgs(StepArgs):
    episode_id: EpisodeId
    transcript: StoredRef
    diarization: StoredRef
    audit: StoredRef


class VerifyArgs(StepArgs):
    """The artifacts a result will name, each with the digest its step returned."""

    episode_id: EpisodeId
    diarization: StoredRef
    audit: StoredRef
    enriched: StoredRef


class ErrorLogArgs(StepArgs):
    episode_id: EpisodeId
    status: RunStatus
    errors: list[ErrorRecord]


class ReportArgs(StepArgs):
    """``enriched`` and ``audit``: what this run wrote (None when it failed before them).

    They key the checkpoint, and the enriched transcript, while still in memory, is drawn without reading it back.
    """

    episode_id: EpisodeId
    audio: AudioSource | None = None
    enriched: StoredRef | None = None
    audit: StoredRef | None = None
    errors: list[ErrorRecord]


class SubmitJobArgs(StepArgs):
    episode_id: EpisodeId
    audio: AudioSource | None = None
    duration: Seconds | None = None
    """The audio's length when known, checked against pyannoteAI's limit before uploading."""
    hints: SpeakerHints = SpeakerHints()
    webhook: str | None = None
    podcast_id: PodcastId | None = None


class PollJobArgs(StepArgs):
    job_id: str


class CollectJobArgs(StepArgs):
    episode_id: EpisodeId
    job_id: str
    model: str | None = None
    voiceprint_labels: list[tuple[str, str]] | None = None
    """``[label, voiceprint_id]`` pairs the job was submitted with (an identification job)."""


class TranscribeArgs(StepArgs):
    episode_id: EpisodeId
    audio: AudioSource


class NoArgs(StepArgs):
    """A step that needs nothing but its workspace (``choose-diarizer-v1``)."""


class RecordFailureArgs(StepArgs):
    """``record-failure-v1``: a run that failed outright, as the ``on_failure`` handler saw it."""

    episode_id: EpisodeId
    function_id: str
    error: ErrorSummary
    attempts: int = Field(ge=1)
    """How many times the function ran (its retries + 1)."""
