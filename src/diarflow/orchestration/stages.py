"""Step bodies and their definitions: read inputs by key, call domain code, write one artifact, return a small result.

Each body takes the :class:`Workspace` and its argument model; each
:class:`~diarflow.orchestration.steps.Step` below names it together with its
argument and result models, which is what the pipeline runs.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np

from diarflow.adapters.diarizers.base import DiarizationJob, DiarizerOutput
from diarflow.adapters.stores import dump_json, get_json
from diarflow.adapters.url_policy import UrlPolicy, check_fetch_target
from diarflow.contracts import (
    SCHEMA_VERSION,
    AuditArtifact,
    ClusterSummary,
    DiarizationInfo,
    DiarizationSourceName,
    DiarizeArgs,
    EnrichArgs,
    EnrichmentInfo,
    ErrorLogArgs,
    ErrorLogInfo,
    ErrorSummary,
    IdentificationInfo,
    IdentifyArgs,
    InspectArgs,
    ReportArgs,
    SpeakerTracks,
    StoredRef,
    Thresholds,
    TranscriptInfo,
    VerificationInfo,
    VerifyArgs,
    keys,
    parse_contract,
    utc_now,
)
from diarflow.contracts.corrections import NameCorrection
from diarflow.contracts.results import ReportInfo, ResolvedDiarizer
from diarflow.domain.alignment import align_words
from diarflow.domain.channels import own_channel_speakers
from diarflow.domain.clusters import Cluster, cluster_turns
from diarflow.domain.enrichment import enriched_words
from diarflow.domain.fallback import own_label_confidences, own_turn_speakers
from diarflow.domain.turns import Turns
from diarflow.errors import (
    MAX_ERROR_MESSAGE,
    ArtifactLost,
    ArtifactNotFound,
    DiarizerUnavailable,
    InvalidDiarization,
    InvalidInput,
)
from diarflow.orchestration.diarizers import STEP_NAMES, build_diarizer
from diarflow.orchestration.identification import SpeakerMap, identify_episode
from diarflow.orchestration.limits import check_segment_count, check_turn_times
from diarflow.orchestration.steps import Step
from diarflow.orchestration.workspace import Workspace, digest

log = logging.getLogger(__name__)


def inspect_transcript(ws: Workspace, args: InspectArgs) -> TranscriptInfo:
    """``inspect-transcript-v1``: the stored transcript parses; its size and content digest."""
    transcript, content_digest = ws.read_transcript(args.transcript_key)
    return TranscriptInfo(
        transcript_key=args.transcript_key,
        digest=content_digest,
        num_words=len(transcript),
        num_utterances=len(transcript.utterances),
        duration=transcript.duration,
        has_speakers=transcript.has_speakers,
    )


def diarize(diarizer_name: ResolvedDiarizer, ws: Workspace, args: DiarizeArgs) -> DiarizationInfo:
    """``local-diarize-v1``, ``channels-diarize-v1``, ``deepgram-fallback-v1``: run a diarizer, write its diarization.

    The channels diarizer needs no audio (it diarizes from each track's words) but listens when there is some.
    """
    audio = args.audio
    if diarizer_name == "local" and not audio:
        raise DiarizerUnavailable(
            f"the {diarizer_name} diarizer needs the episode audio: give `audio` (an `audio_url` in the event)"
        )
    if audio and diarizer_name in ("local", "channels"):  # we fetch remote audio ourselves: refuse private addresses
        check_fetch_target(audio, UrlPolicy.from_settings(ws.settings))
    diarizer = build_diarizer(diarizer_name, ws.settings)
    transcript, _ = ws.read_transcript(args.transcript)
    job = DiarizationJob(
        episode_id=args.episode_id,
        audio=audio,
        transcript=transcript,
        num_speakers=args.hints.num_speakers,
        min_speakers=args.hints.min_speakers,
        max_speakers=args.hints.max_speakers,
    )
    return write_diarization(ws, args.episode_id, diarizer.source, diarizer.diarize(job))


def write_diarization(
    ws: Workspace,
    episode_id: str,
    source: DiarizationSourceName,
    output: DiarizerOutput,
    extra: dict[str, Any] | None = None,
) -> DiarizationInfo:
    """Write a diarizer's output as the raw diarization artifact and describe it; shared by every source.

    ``extra`` adds source-specific fields (pyannoteAI's ``voiceprint_matches``).
    """
    for name, turns in (("segments", output.turns), ("exclusive_segments", output.exclusive)):
        # A runaway diarizer must not write what no step can read.
        check_segment_count(len(turns) if turns is not None else 0, ws.settings.max_segments, field=name)
        if turns is not None:
            check_turn_times(turns, field=name)
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "episode_id": episode_id,
        "source": source,
        "model": output.model,
        "job_id": output.job_id,
        "created_at": utc_now(),
        "segments": output.turns.to_segments(),
        "exclusive_segments": output.exclusive.to_segments() if output.exclusive is not None else None,
        "warnings": list(output.warnings),
        **(extra or {}),
    }
    if output.speaker_channels is not None:  # only per-track speakers say so: other artifacts keep their shape
        document["num_channels"] = output.num_channels
        document["speaker_channels"] = dict(output.speaker_channels)
    if output.speaker_embeddings is not None:  # identification then needs no second pass over the audio
        document["cluster_embeddings"] = output.speaker_embeddings.as_document()
    num_speakers, speech_time = output.turns.num_speakers, output.turns.speech_time
    key = keys.diarization_key(episode_id)
    written = put_diarization(ws, key, document)
    return DiarizationInfo(
        s3_diarization_key=key,
        source=document["source"],
        digest=written.digest,
        num_segments=len(document["segments"]),
        num_speakers=num_speakers,
        duration=round(speech_time, 3),
    )


def put_diarization(ws: Workspace, key: str, document: dict[str, Any]) -> StoredRef:
    """Write a diarization document (raw or corrected) and keep it in the memo for the steps after this one."""
    _check_readable(document, key)
    data = dump_json(document)
    ws.store.put_bytes(key, data, content_type="application/json")
    written = StoredRef(key=key, digest=digest(data))
    ws.memo.diarizations[written] = document
    return written


def _check_readable(document: dict[str, Any], key: str) -> None:
    """What we write must read back: a value we computed that fails our own validation is never written."""
    for name in ("segments", "exclusive_segments"):
        if document[name] is not None:
            Turns.from_segments(document[name], path=f"{key}:{name}")


def identify_speakers(ws: Workspace, args: IdentifyArgs) -> IdentificationInfo:
    """``identify-speakers-v1``: cluster the turns, name them from the registry, write the audit.

    A registry, audio or model problem does not fail the step: the audit is written
    with canonical labels and the result carries ``error`` (the run ends ``partial``).
    """
    episode_id, podcast_id, diarization_key = args.episode_id, args.podcast_id, args.diarization.key
    turns, document = ws.read_turns(args.diarization)
    if "segments" not in document:
        raise InvalidDiarization(f"{diarization_key}:segments", "is missing")
    clusters = cluster_turns(turns)
    exclusive, _ = ws.read_turns(args.diarization, exclusive=True)  # one voice at a time
    tracks = read_speaker_tracks(diarization_key, document)
    named_by = read_corrected_names(diarization_key, document)
    corrected = {speaker: correction.name for speaker, correction in named_by.items()}
    speaker_map = identify_episode(
        ws, episode_id, clusters, exclusive, document, podcast_id, args.audio, tracks, corrected
    )
    channel_of = tracks.speaker_channels or {}
    audit = AuditArtifact(
        episode_id=episode_id,
        created_at=utc_now(),
        source=document["source"],
        clusters=[
            _cluster_summary(
                cluster, speaker_map, channel_of.get(cluster.speaker_key), named_by.get(cluster.speaker_key)
            )
            for cluster in clusters
        ],
        total_segments=len(turns),
        near_misses=speaker_map.near_misses,
        thresholds=Thresholds(
            near_miss_margin=ws.settings.near_miss_margin,
            gap_tolerance=ws.settings.gap_tolerance,
            fallback_confidence=ws.settings.fallback_confidence,
            match_threshold=speaker_map.threshold,
            short_enrolment_threshold=speaker_map.short_enrolment_threshold,
            short_enrolment_seconds=speaker_map.short_enrolment_seconds,
            match_margin=speaker_map.margin,
            match_model=speaker_map.model,
        ),
        registry_status=speaker_map.status,
        warnings=_warnings_of(document) + speaker_map.warnings,
    )
    key = keys.audit_key(episode_id)
    data = dump_json(audit.to_json_dict())
    ws.store.put_bytes(key, data, content_type="application/json")
    return IdentificationInfo(
        s3_audit_key=key,
        digest=digest(data),
        num_speakers=len(clusters),
        identified_speakers=sum(1 for c in audit.clusters if c.mapped_to is not None),
        registry_status=speaker_map.status,
        registry_prefix=keys.voiceprints_prefix(podcast_id) if podcast_id else None,
        error=speaker_map.error,
        warnings=speaker_map.warnings,
    )


def _warnings_of(document: dict[str, Any]) -> list[str]:
    """The raw diarization's warnings, for the audit; a hand-edited artifact may hold anything there."""
    warnings = document.get("warnings")
    return [w for w in warnings if isinstance(w, str)] if isinstance(warnings, list) else []


def read_speaker_tracks(key: str, document: dict[str, Any]) -> SpeakerTracks:
    """The raw diarization's speaker tracks (both optional), checked; a defect names its field."""
    fields = {name: document.get(name) for name in ("num_channels", "speaker_channels")}
    try:
        return parse_contract(SpeakerTracks, fields, where=key)
    except InvalidInput as exc:
        raise InvalidDiarization(f"{key}:{exc.field.removeprefix(key + '.')}", exc.problem) from None


def read_corrected_names(key: str, document: dict[str, Any]) -> dict[str, NameCorrection]:
    """The names a person's corrections gave (``corrected_names`` of a corrected diarization), checked."""
    names = document.get("corrected_names")
    if names is None:
        return {}
    if not isinstance(names, dict):
        raise InvalidDiarization(f"{key}:corrected_names", "must be an object (speaker -> name)")
    return {
        speaker: parse_contract(NameCorrection, value, where=f"{key}:corrected_names.{speaker}")
        for speaker, value in names.items()
    }


def _cluster_summary(
    cluster: Cluster, speaker_map: SpeakerMap, channel: int | None, corrected: NameCorrection | None
) -> dict[str, Any]:
    rep = cluster.representative
    # A person's rename wins over a voiceprint match: they heard the voice, the registry scored it.
    named = None if corrected is not None else speaker_map.named.get(cluster.speaker_key)
    return {
        "speakerKey": cluster.speaker_key,
        "label": cluster.label,
        "duration": round(cluster.duration, 3),
        "segmentsCount": cluster.segments_count,
        "mappedTo": corrected.name if corrected else named.display_name if named else None,
        "referenceId": named.voiceprint_id if named else None,
        "confidence": round(named.confidence, 4) if named else None,
        "diarizationConfidence": cluster.confidence,
        "representative": {
            "start": rep.start,
            "end": rep.end,
            "confidence": rep.confidence,
            "clipKey": speaker_map.clips.get(cluster.speaker_key),
        },
        "channel": channel,
        "namedBy": corrected.to_json_dict() if corrected else None,
        "embedding": speaker_map.embeddings.get(cluster.speaker_key),
    }


def enrich_transcript(ws: Workspace, args: EnrichArgs) -> EnrichmentInfo:
    """``enrich-transcript-v1``: attribute every word to a speaker and write the enriched transcript."""
    audit_key = args.audit.key
    transcript, _ = ws.read_transcript(args.transcript)
    turns, document = ws.read_turns(args.diarization, exclusive=True)
    audit = AuditArtifact.model_validate(get_json(ws.store, audit_key))
    by_key = {cluster.speaker_key: cluster for cluster in audit.clusters}
    missing = [name for name in turns.speaker_names if name not in by_key]
    if missing:
        raise InvalidDiarization(
            audit_key, f"has no cluster for diarization speaker {missing[0]!r}: rerun identification"
        )

    ordered = [by_key[name] for name in turns.speaker_names]
    display = [c.mapped_to or c.label for c in ordered]
    confidences = np.array([np.nan if c.diarization_confidence is None else c.diarization_confidence for c in ordered])
    source = document["source"]
    # Under the Deepgram fallback each word stays on its own speaker, with Deepgram's confidence (README, "Confidence");
    # under the channels diarizer, on its own track's speaker.
    own = None
    if source == "deepgram_fallback":
        own = own_turn_speakers(transcript, turns.speaker_names)
    elif source == "channels":
        tracks = {c.speaker_key: c.channel for c in ordered if c.channel is not None}
        own = own_channel_speakers(transcript, turns.speaker_names, tracks)
    alignment = align_words(
        transcript.starts,
        transcript.ends,
        turns,
        confidences,
        gap_tolerance=ws.settings.gap_tolerance,
        near_miss_margin=ws.settings.near_miss_margin,
        preferred_speakers=own,
    )
    if own is not None and source == "deepgram_fallback":
        alignment = replace(alignment, confidences=own_label_confidences(transcript, alignment, own))
    enriched = {
        "schema_version": SCHEMA_VERSION,
        "episode_id": args.episode_id,
        "source": source,
        "created_at": utc_now(),
        "speakers": [_speaker_entry(c) for c in audit.clusters],
        "words": enriched_words(
            transcript, alignment, display_names=display, diar_speakers=list(turns.speaker_names), source=source
        ),
    }
    key = keys.enriched_key(args.episode_id)
    data = dump_json(enriched)
    ws.store.put_bytes(key, data, content_type="application/json")
    written = StoredRef(key=key, digest=digest(data))
    ws.memo.enriched[written] = enriched  # the report step renders it without reading it back
    return EnrichmentInfo(
        s3_enriched_key=key,
        digest=written.digest,
        num_words=len(transcript),
        unattributed_words=alignment.unattributed,
    )


def _speaker_entry(cluster: ClusterSummary) -> dict[str, Any]:
    """How a cluster is shown in the enriched transcript; ``channel`` only for a speaker of one track."""
    entry: dict[str, Any] = {
        "diar_speaker": cluster.speaker_key,
        "label": cluster.label,
        "speaker": cluster.mapped_to or cluster.label,
        "identified": cluster.mapped_to is not None,
    }
    if cluster.channel is not None:
        entry["channel"] = cluster.channel
    return entry


def verify_artifacts(ws: Workspace, args: VerifyArgs) -> VerificationInfo:
    """``verify-artifacts-v1``: each artifact the result will name reads back with the digest its step returned.

    A run must not report artifacts it cannot read back:
    one removed meanwhile (the store deleted or cleaned during the run) or rewritten by
    another hand. Such a loss is returned as ``error``, not raised: retrying this step
    cannot bring an artifact back, rerunning the episode does (``ArtifactLost`` is retryable).
    """
    lost: list[str] = []
    problems: list[str] = []
    for artifact in (args.diarization, args.audit, args.enriched):
        key = artifact.key
        try:
            data = ws.store.get_bytes(key)
        except ArtifactNotFound:
            lost.append(key)
            problems.append(f"{key} is gone")
            continue
        if digest(data) != artifact.digest:
            lost.append(key)
            problems.append(f"{key} changed")
    error = None
    if lost:
        them = "it" if len(lost) == 1 else "them"
        exc = ArtifactLost(
            f"{', '.join(problems)} (store {ws.store.url}): this run wrote {them} but cannot read {them} back as "
            f"written; was the store removed or cleaned during the run? Rerun the episode to write {them} again"
        )
        error = ErrorSummary(type=exc.type_name, message=exc.message[:MAX_ERROR_MESSAGE])
    return VerificationInfo(
        s3_diarization_key=args.diarization.key,
        s3_audit_key=args.audit.key,
        s3_enriched_key=args.enriched.key,
        lost=lost,
        error=error,
    )


def update_error_log(ws: Workspace, args: ErrorLogArgs) -> ErrorLogInfo:
    """``update-error-log-v1``: write this run's errors, or remove a stale log when there are none."""
    key = keys.error_key(args.episode_id)
    if not args.errors:
        ws.store.delete(key)
        return ErrorLogInfo(s3_error_key=None, num_errors=0)
    records = [error.to_json_dict() for error in args.errors]
    artifact = {
        "schema_version": SCHEMA_VERSION,
        "episode_id": args.episode_id,
        "status": args.status,
        "errors": records,
    }
    ws.store.put_bytes(key, dump_json(artifact), content_type="application/json")
    return ErrorLogInfo(s3_error_key=key, num_errors=len(records))


def render_report(ws: Workspace, args: ReportArgs) -> ReportInfo:
    """``render-report-v1``: the self-contained HTML report (``audit`` and ``errors`` only key the checkpoint)."""
    from diarflow.report import write_report

    enriched = ws.memo.enriched.get(args.enriched) if args.enriched is not None else None
    return ReportInfo(s3_report_key=write_report(ws.store, args.episode_id, audio_src=args.audio, enriched=enriched))


# --- the steps -----------------------------------------------------------------------------

INSPECT = Step("inspect-transcript-v1", InspectArgs, TranscriptInfo, inspect_transcript)
IDENTIFY = Step("identify-speakers-v1", IdentifyArgs, IdentificationInfo, identify_speakers)
ENRICH = Step("enrich-transcript-v1", EnrichArgs, EnrichmentInfo, enrich_transcript)
VERIFY = Step("verify-artifacts-v1", VerifyArgs, VerificationInfo, verify_artifacts)
ERROR_LOG = Step("update-error-log-v1", ErrorLogArgs, ErrorLogInfo, update_error_log)
"""Run as ``update-error-log-v1.<n>`` after each fallback and ``.final`` at the end (see :meth:`Step.named`)."""
REPORT = Step("render-report-v1", ReportArgs, ReportInfo, render_report)


def diarize_step(diarizer: ResolvedDiarizer) -> Step[DiarizeArgs, DiarizationInfo]:
    """The in-step diarizers share one body; the diarizer is in the step's name (``local-diarize-v1``)."""
    return Step(STEP_NAMES[diarizer], DiarizeArgs, DiarizationInfo, partial(diarize, diarizer))
