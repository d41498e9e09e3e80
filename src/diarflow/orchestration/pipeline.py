"""The diarization pipeline, written once against :class:`Steps`.

Both engines drive this function: the local runner and Inngest. Everything
outside ``steps.run`` must be deterministic and free of side effects, because
Inngest re-executes the function body for every step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from diarflow.adapters.url_policy import UrlPolicy, check_audio_url
from diarflow.config import DiarizerChoice, Settings
from diarflow.contracts import (
    DIARIZATION_COMPLETED,
    DIARIZATION_FAILED,
    DiarizationInfo,
    DiarizeArgs,
    DiarizeRequested,
    EnrichArgs,
    ErrorLogArgs,
    ErrorRecord,
    ErrorSummary,
    IdentifyArgs,
    InspectArgs,
    PipelineResult,
    ReportArgs,
    RunStats,
    RunStatus,
    SpeakerHints,
    StoredRef,
    TranscriptInfo,
    VerifyArgs,
    utc_now,
)
from diarflow.contracts.results import ResolvedDiarizer
from diarflow.contracts.step_args import CorrectionsArgs
from diarflow.domain.fallback import NO_WORDS_WARNING
from diarflow.errors import MAX_ERROR_MESSAGE, ArtifactLost, InvalidUrl, StepFailed
from diarflow.orchestration import stages
from diarflow.orchestration.corrections import CORRECT
from diarflow.orchestration.diarizers import STEP_NAMES, resolve_diarizer
from diarflow.orchestration.steps import Steps
from diarflow.orchestration.workspace import Workspace
from diarflow.redaction import redact

log = logging.getLogger(__name__)

INSPECT_STEP = stages.INSPECT.name
FALLBACK_STEP = STEP_NAMES["deepgram"]
CORRECT_STEP = CORRECT.name
IDENTIFY_STEP = stages.IDENTIFY.name
ENRICH_STEP = stages.ENRICH.name
VERIFY_STEP = stages.VERIFY.name
ERROR_LOG_STEP = stages.ERROR_LOG.name
EMIT_STEP = "emit-result-v1"
REPORT_STEP = stages.REPORT.name
AUDIO_URL_CHECK = "check-audio-url"
"""Where a refused ``audio_url`` is recorded: a check before the first step, not a step itself."""


@dataclass(frozen=True)
class RunOptions:
    """How to diarize; part of the trigger, so identical across re-executions."""

    diarizer: DiarizerChoice = "auto"
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None

    @property
    def hints(self) -> SpeakerHints:
        return SpeakerHints(
            num_speakers=self.num_speakers, min_speakers=self.min_speakers, max_speakers=self.max_speakers
        )


@dataclass
class _RunLog:
    """The errors of this run, in the order they happened."""

    episode_id: str
    audio_url: str | None = None
    errors: list[ErrorRecord] = field(default_factory=list)

    def add(self, failure: StepFailed) -> None:
        self.errors.append(
            ErrorRecord(
                step=failure.step,
                type=failure.error_type,
                message=redact(failure.cause_message)[:MAX_ERROR_MESSAGE],
                retryable=failure.cause_retryable,
                attempt=failure.attempt,
                occurred_at=utc_now(),
                request_id=failure.request_id,
            )
        )

    def add_degraded(self, step: str, error: ErrorSummary) -> None:
        """A step that succeeded in a degraded way (e.g. registry unavailable); a rerun may do better."""
        self.errors.append(
            ErrorRecord(
                step=step,
                type=error.type,
                message=redact(error.message)[:MAX_ERROR_MESSAGE],
                retryable=True,
                attempt=1,
                occurred_at=utc_now(),
            )
        )

    def write(self, steps: Steps, ws: Workspace, status: RunStatus, *, final: bool = False) -> str | None:
        suffix = "final" if final else str(len(self.errors))
        log_step = stages.ERROR_LOG.named(f"{ERROR_LOG_STEP}.{suffix}")
        args = ErrorLogArgs(episode_id=self.episode_id, status=status, errors=self.errors)
        return steps.run(log_step, ws, args).s3_error_key


def diarize_episode(
    steps: Steps, ws: Workspace, request: DiarizeRequested, options: RunOptions | None = None
) -> PipelineResult:
    """Diarize one episode: transcript in, raw/enriched/audit artifacts out, a small result back."""
    options = options or RunOptions()
    episode = request.episode_id
    run_log = _RunLog(episode, request.audio_url)

    refused = refused_audio_url(request, ws.settings)
    if refused is not None:
        return _fail(steps, ws, run_log, refused)

    try:
        transcript = steps.run(
            stages.INSPECT, ws, InspectArgs(episode_id=episode, transcript_key=request.transcript_key)
        )
    except StepFailed as failure:
        return _fail(steps, ws, run_log, failure)

    diarization = _diarize(steps, ws, request, options, transcript, run_log)
    if diarization is None:
        return _finish_failed(steps, ws, run_log)

    try:
        # Each step is given what it reads as key + digest: a changed artifact reruns it and every step after it.
        # A person's corrections (docs/corrections.md) come in here, so changing them never re-diarizes.
        correct = CorrectionsArgs(episode_id=episode, diarization=diarization.ref, episode_end=transcript.duration)
        corrected = steps.run(CORRECT, ws, correct)
        identify = IdentifyArgs(
            episode_id=episode, diarization=corrected.ref, podcast_id=request.podcast_id, audio=request.audio_url
        )
        identification = steps.run(stages.IDENTIFY, ws, identify)
        enrich = EnrichArgs(
            episode_id=episode, transcript=transcript.ref, diarization=corrected.ref, audit=identification.ref
        )
        enrichment = steps.run(stages.ENRICH, ws, enrich)
        verify = VerifyArgs(
            episode_id=episode, diarization=corrected.ref, audit=identification.ref, enriched=enrichment.ref
        )
        verification = steps.run(stages.VERIFY, ws, verify)
    except StepFailed as failure:
        return _fail(steps, ws, run_log, failure, diarization=diarization)
    if verification.error is not None:
        # Never "completed" with keys naming files that are gone: fail, and say a rerun rewrites them.
        lost = StepFailed(
            VERIFY_STEP,
            verification.error.type,
            verification.error.message,
            retryable=ArtifactLost.retryable,
            attempt=1,
        )
        kept = diarization if diarization.s3_diarization_key not in verification.lost else None
        return _fail(steps, ws, run_log, lost, diarization=kept)

    if identification.error is not None:
        run_log.add_degraded(IDENTIFY_STEP, identification.error)
    status: RunStatus = "partial" if run_log.errors else "completed"
    error_key = run_log.write(steps, ws, status, final=True)
    result = PipelineResult(
        episode_id=episode,
        status=status,
        source=diarization.source,
        s3_diarization_key=diarization.s3_diarization_key,
        s3_enriched_key=enrichment.s3_enriched_key,
        s3_audit_key=identification.s3_audit_key,
        s3_error_key=error_key,
        stats=RunStats(
            num_segments=diarization.num_segments,
            duration=diarization.duration,
            num_speakers=identification.num_speakers,
            num_words=enrichment.num_words,
            identified_speakers=identification.identified_speakers,
        ),
        warnings=([NO_WORDS_WARNING] if transcript.num_words == 0 else []) + identification.warnings,
    )
    _render_report(steps, ws, run_log, enriched=enrichment.ref, audit=identification.ref)
    steps.send_event(EMIT_STEP, [{"name": DIARIZATION_COMPLETED, "data": result.to_json_dict()}])
    return result


def _diarize(
    steps: Steps,
    ws: Workspace,
    request: DiarizeRequested,
    options: RunOptions,
    transcript: TranscriptInfo,
    run_log: _RunLog,
) -> DiarizationInfo | None:
    """Run the chosen diarizer; on failure record why and fall back to the transcript's own speakers."""
    chosen = resolve_diarizer(options.diarizer, ws.settings)
    attempts: list[ResolvedDiarizer] = [chosen] if chosen == "deepgram" else [chosen, "deepgram"]
    if transcript.num_words == 0:
        attempts = ["deepgram"]  # silent audio: nothing to attribute, no model to run (0 words, 0 turns)
    for name in attempts:
        try:
            if name == "pyannote":
                from diarflow.orchestration.pyannote_flow import diarize_with_pyannote

                return diarize_with_pyannote(steps, ws, request, options, transcript)
            args = DiarizeArgs(
                episode_id=request.episode_id,
                transcript=transcript.ref,
                audio=request.audio_url,
                hints=options.hints,
            )
            return steps.run(stages.diarize_step(name), ws, args)
        except StepFailed as failure:
            run_log.add(failure)
            log.warning("diarizer %s failed (%s); falling back", name, failure.error_type)
            if name != "deepgram":
                run_log.write(steps, ws, "partial")
    return None


def refused_audio_url(request: DiarizeRequested, settings: Settings) -> StepFailed | None:
    """The URL policy (docs/reliability.md) applied before any step; pure, so safe outside ``steps.run``."""
    if request.audio_url is None:
        return None
    try:
        check_audio_url(request.audio_url, UrlPolicy.from_settings(settings))
    except InvalidUrl as exc:
        return StepFailed(AUDIO_URL_CHECK, exc.type_name, exc.message, retryable=False, attempt=1)
    return None


def _render_report(
    steps: Steps,
    ws: Workspace,
    run_log: _RunLog,
    *,
    enriched: StoredRef | None = None,
    audit: StoredRef | None = None,
) -> None:
    """Leave a page an editor can open; a report that cannot be drawn never fails the run (it is logged)."""
    args = ReportArgs(
        episode_id=run_log.episode_id, audio=run_log.audio_url, enriched=enriched, audit=audit, errors=run_log.errors
    )
    try:
        steps.run(stages.REPORT, ws, args)
    except StepFailed as failure:
        log.warning("report for %s not written: %s: %s", run_log.episode_id, failure.error_type, failure.cause_message)


def _fail(
    steps: Steps, ws: Workspace, run_log: _RunLog, failure: StepFailed, diarization: DiarizationInfo | None = None
) -> PipelineResult:
    run_log.add(failure)
    return _finish_failed(steps, ws, run_log, diarization)


def _finish_failed(
    steps: Steps, ws: Workspace, run_log: _RunLog, diarization: DiarizationInfo | None = None
) -> PipelineResult:
    """Record the errors, tell the world, and return a failed result (earlier artifacts stay)."""
    last = run_log.errors[-1]
    try:
        error_key = run_log.write(steps, ws, "failed", final=True)
    except StepFailed as unrecorded:
        # The store is down too: surface the failure that stopped the run, not the error log's echo of it.
        message = f"{last.message} (not recorded: {unrecorded.step} failed with {unrecorded.error_type})"
        raise StepFailed(last.step, last.type, message, retryable=last.retryable, attempt=last.attempt) from None
    summary = ErrorSummary(type=last.type, message=last.message)
    result = PipelineResult(
        episode_id=run_log.episode_id,
        status="failed",
        source=diarization.source if diarization else None,
        s3_diarization_key=diarization.s3_diarization_key if diarization else None,
        s3_enriched_key=None,
        s3_audit_key=None,
        s3_error_key=error_key,
        stats=RunStats(
            num_segments=diarization.num_segments if diarization else 0,
            duration=diarization.duration if diarization else 0.0,
            num_speakers=diarization.num_speakers if diarization else 0,
            num_words=0,
            identified_speakers=0,
        ),
        error=summary,
    )
    event = {
        "name": DIARIZATION_FAILED,
        "data": {
            "episode_id": run_log.episode_id,
            "status": "failed",
            "s3_error_key": error_key,
            "error": summary.to_json_dict(),
        },
    }
    _render_report(steps, ws, run_log)
    steps.send_event(EMIT_STEP, [event])
    return result
