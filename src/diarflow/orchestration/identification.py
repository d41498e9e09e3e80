"""What ``identify-speakers-v1`` does between reading the clusters and writing the audit.

Reads the podcast's voiceprints, gets one score per (cluster, voiceprint) —
from pyannoteAI's ``/v1/identify`` output when the diarization came from
there, else from CAM++ embeddings of each cluster (the diarizer's own when the
raw diarization carries them as ``cluster_embeddings``, else of the cluster's
representative audio) — and lets :mod:`diarflow.domain.identification` decide.

Entries of a previous local model (``resemblyzer-ge2e``) are never compared
with CAM++ embeddings: they are left out, and the audit and the result say so
(``warnings``), naming ``diarflow voiceprints migrate``.

Nothing here fails the run: a registry, audio or model problem becomes a
:class:`SpeakerMap` with ``error`` set, so enrichment still runs with the
canonical labels and the run ends ``partial`` (the local runner keeps no
checkpoint of such a result, so the next run identifies again).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from diarflow.adapters.registry import VoiceprintRegistry
from diarflow.contracts import (
    LOCAL_VOICEPRINT_MODEL,
    ErrorSummary,
    IdentifiedSegment,
    RegistryStatus,
    SpeakerTracks,
    VoiceprintEntry,
    VoiceprintMatch,
    keys,
)
from diarflow.contracts.results import MAX_WARNING
from diarflow.contracts.voiceprints import GE2E_VOICEPRINT_MODEL, PYANNOTE_VOICEPRINT_PREFIX
from diarflow.domain.clusters import Cluster
from diarflow.domain.identification import (
    SHORT_ENROLMENT_SECONDS,
    ClusterDecision,
    best_by_group,
    cosine_scores,
    enrolment_thresholds,
    identify_clusters,
    short_enrolment_bar,
    speaker_segments,
)
from diarflow.domain.turns import Turns
from diarflow.errors import MAX_ERROR_MESSAGE, DiarflowError
from diarflow.orchestration.workspace import Workspace

if TYPE_CHECKING:
    from diarflow.adapters.url_policy import UrlPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Named:
    """A cluster's identity."""

    display_name: str
    voiceprint_id: str
    confidence: float


@dataclass
class SpeakerMap:
    """The outcome of identification for the audit (keyed by diarization speaker)."""

    status: RegistryStatus
    named: dict[str, Named] = field(default_factory=dict)
    near_misses: list[dict[str, Any]] = field(default_factory=list)
    clips: dict[str, str] = field(default_factory=dict)
    threshold: float | None = None
    short_enrolment_threshold: float | None = None
    """What a voiceprint enrolled from under ``short_enrolment_seconds`` of speech needed (local matching only)."""
    short_enrolment_seconds: float | None = None
    margin: float | None = None
    model: str | None = None
    error: ErrorSummary | None = None
    warnings: list[str] = field(default_factory=list)
    """What the reader should know: voiceprints left out because their model is outdated, pyannoteAI's own
    matching disagreeing with its scores."""
    embeddings: dict[str, list[float]] = field(default_factory=dict)
    """Each cluster's CAM++ embedding, when one was computed or given (kept in the audit for ``speakers recurring``)."""

    def keep_embeddings(
        self, clusters: list[Cluster], vectors: NDArray[np.floating], usable: list[bool] | NDArray[np.bool_]
    ) -> None:
        """Keep the usable rows, rounded: 192 numbers a cluster is small, and 4 decimals move a cosine by < 1e-3."""
        for cluster, vector, ok in zip(clusters, vectors, usable, strict=True):
            if ok:
                self.embeddings[cluster.speaker_key] = [round(float(x), 4) for x in vector]


def identify_episode(
    ws: Workspace,
    episode_id: str,
    clusters: list[Cluster],
    turns: Turns,
    document: dict[str, Any],
    podcast_id: str | None,
    audio: str | None,
    tracks: SpeakerTracks,
    corrected: Mapping[str, str] | None = None,
) -> SpeakerMap:
    """Name the clusters from the podcast's registry; degradations come back in ``error``.

    ``tracks``: which track each speaker was recorded on; such a speaker is heard
    on its own track, not on the mix, when the audio has the transcript's tracks.
    ``corrected``: the names a person's corrections gave (speaker key -> name). Those
    speakers are not matched by voice, and the people named are not given to another
    speaker by voice: whoever named one speaker Diane saw the others and did not.
    """
    if podcast_id is None:
        return SpeakerMap("not_configured")
    try:
        entries = VoiceprintRegistry(ws.store).entries(podcast_id)
    except DiarflowError as exc:
        log.warning("voiceprint registry of %s unavailable: %s", podcast_id, exc.message)
        return SpeakerMap("unavailable", error=_summary(exc, "the voiceprint registry could not be read"))
    if not entries:
        empty = SpeakerMap("empty")
        provided = diarizer_embeddings(document, clusters)
        if provided is not None:  # free to keep: the diarizer computed them
            empty.keep_embeddings(clusters, provided, _finite_rows(provided))
        return empty
    corrected = corrected or {}
    if not clusters:
        return SpeakerMap("ok")

    matches = document.get("voiceprint_matches")
    remote = [e for e in entries if e.model.startswith(PYANNOTE_VOICEPRINT_PREFIX)]
    local = [e for e in entries if e.model == LOCAL_VOICEPRINT_MODEL]
    if matches is not None and remote:
        return _from_pyannote(ws, clusters, remote, matches, document.get("identification_segments"), corrected)
    warnings = outdated_warnings(podcast_id, entries)
    for warning in warnings:
        log.warning("%s", warning)
    if not local:
        log.warning("podcast %s has no %s voiceprints: nothing to match locally", podcast_id, LOCAL_VOICEPRINT_MODEL)
        return SpeakerMap("ok", warnings=warnings)
    try:
        result = _from_embeddings(ws, episode_id, clusters, turns, local, audio, tracks, document, corrected)
    except DiarflowError as exc:
        log.warning("identification of %s degraded: %s", episode_id, exc.message)
        result = SpeakerMap("ok", error=_summary(exc, "speaker identification could not run"))
    result.warnings = warnings + result.warnings
    return result


def outdated_warnings(podcast_id: str, entries: list[VoiceprintEntry]) -> list[str]:
    """One warning (at most :data:`MAX_WARNING` characters): who only outdated entries hold, so was not matched."""
    current = {e.person for e in entries if e.model == LOCAL_VOICEPRINT_MODEL}
    stale = {e.person: e.display_name for e in entries if e.model == GE2E_VOICEPRINT_MODEL and e.person not in current}
    if not stale:
        return []
    who = "nobody could be named" if not current else f"{len(stale)} voice(s) not matched"
    tail = f": their voiceprints are {GE2E_VOICEPRINT_MODEL} (outdated); run diarflow voiceprints migrate"
    names = ", ".join(sorted(stale.values()))
    room = MAX_WARNING - len(who) - len(tail) - 3
    if len(names) > room:
        names = names[: room - 1] + "…"
    return [f"{who} ({names}){tail}"]


# --- scores from pyannoteAI ----------------------------------------------------------------


def _from_pyannote(
    ws: Workspace,
    clusters: list[Cluster],
    entries: list[VoiceprintEntry],
    matches: list[Any],
    segments: list[Any] | None = None,
    corrected: Mapping[str, str] | None = None,
) -> SpeakerMap:
    """pyannoteAI's per-speaker confidences, decided exactly like local scores (exclusive, margin).

    With its per-turn ``identification[]`` (``segments``), a name also needs pyannoteAI's own
    matching (the same threshold, exclusive) to have given that voiceprint to some of the
    speaker's turns: where the two disagree the cluster stays unnamed and the audit says why.
    """
    by_speaker = {m.speaker: m for m in (VoiceprintMatch.model_validate(raw) for raw in matches)}
    scores = np.full((len(clusters), len(entries)), -np.inf)
    for row, cluster in enumerate(clusters):
        match = by_speaker.get(cluster.speaker_key)
        if match is None:
            continue
        for column, entry in enumerate(entries):
            if entry.voiceprint_id in match.scores:
                scores[row, column] = match.scores[entry.voiceprint_id]
    threshold = ws.settings.pyannote_match_threshold
    spoken = SpeakerMap("ok", threshold=threshold, margin=ws.settings.match_margin, model=entries[0].model)
    result = _decide(spoken, clusters, entries, scores, np.full(len(entries), threshold), corrected)
    if segments is not None:
        _agree_with_turns(result, [IdentifiedSegment.model_validate(raw) for raw in segments])
    return result


def _agree_with_turns(result: SpeakerMap, segments: list[IdentifiedSegment]) -> None:
    """Unname a cluster whose turns pyannoteAI matched to no voiceprint, or to another, than the decision's."""
    given: dict[str, set[str]] = {}
    for segment in segments:
        given.setdefault(segment.speaker, set())
        if segment.match is not None:
            given[segment.speaker].add(segment.match)
    for speaker, named in list(result.named.items()):
        if speaker not in given or named.voiceprint_id in given[speaker]:
            continue
        del result.named[speaker]
        theirs = ", ".join(sorted(given[speaker])) or "no voiceprint"
        result.warnings.append(
            f"{speaker} left unnamed: its voiceprint scores name {named.voiceprint_id} "
            f"(confidence {named.confidence:.2f}), but pyannoteAI's identification matched its turns to {theirs}"
        )


# --- scores from local embeddings ------------------------------------------------------------


def _from_embeddings(
    ws: Workspace,
    episode_id: str,
    clusters: list[Cluster],
    turns: Turns,
    entries: list[VoiceprintEntry],
    audio: str | None,
    tracks: SpeakerTracks,
    document: dict[str, Any],
    corrected: Mapping[str, str],
) -> SpeakerMap:
    references = np.array([entry.embedding for entry in entries], dtype=np.float64)
    settings = ws.settings
    result = SpeakerMap(
        "ok",
        threshold=settings.match_threshold,
        short_enrolment_threshold=short_enrolment_bar(settings.match_threshold, settings.short_enrolment_threshold),
        short_enrolment_seconds=SHORT_ENROLMENT_SECONDS,
        margin=ws.settings.match_margin,
        model=LOCAL_VOICEPRINT_MODEL,
    )
    provided = diarizer_embeddings(document, clusters)
    if provided is not None:  # the diarizer embedded its clusters with our model: no second pass over the audio
        usable = _finite_rows(provided)
        scores = np.full((len(clusters), len(entries)), -np.inf)
        if usable.any():
            scores[usable] = cosine_scores(provided[usable], references)
        result.keep_embeddings(clusters, provided, usable)
        if ws.settings.audit_clips and audio:
            _audit_clips(ws, episode_id, clusters, turns, audio, tracks, result)
        return _decide(result, clusters, entries, scores, _local_thresholds(ws, entries), corrected)
    return _from_audio(ws, episode_id, clusters, turns, entries, references, audio, tracks, result, corrected)


def _finite_rows(vectors: NDArray[np.floating]) -> NDArray[np.bool_]:
    """Rows the diarizer could embed (a row of NaN marks a cluster it could not)."""
    return np.asarray(np.isfinite(vectors).all(axis=1), dtype=np.bool_)


def diarizer_embeddings(document: dict[str, Any], clusters: list[Cluster]) -> NDArray[np.float64] | None:
    """(clusters, dim) embeddings the raw diarization carries for every cluster, of the current model; else None.

    The diarizer writes ``cluster_embeddings: {"model": ..., "speakers": {speaker: [floats]}}``; a row
    of NaN marks a cluster it could not embed. Anything else (another model, a cluster missing,
    ragged rows) means the clusters are embedded from the audio instead.
    """
    given = document.get("cluster_embeddings")
    if not isinstance(given, dict) or given.get("model") != LOCAL_VOICEPRINT_MODEL:
        return None
    speakers = given.get("speakers")
    if not isinstance(speakers, dict) or any(c.speaker_key not in speakers for c in clusters):
        return None
    try:
        rows = np.array([speakers[c.speaker_key] for c in clusters], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return rows if rows.ndim == 2 and rows.shape[0] == len(clusters) else None


def _from_audio(
    ws: Workspace,
    episode_id: str,
    clusters: list[Cluster],
    turns: Turns,
    entries: list[VoiceprintEntry],
    references: NDArray[np.float64],
    audio: str | None,
    tracks: SpeakerTracks,
    result: SpeakerMap,
    corrected: Mapping[str, str],
) -> SpeakerMap:
    from diarflow.adapters.speaker_embedding import MIN_SAMPLES, load_voice_embedder
    from diarflow.adapters.url_policy import UrlPolicy, check_fetch_target
    from diarflow.errors import DiarizerUnavailable

    if not audio:
        raise DiarizerUnavailable(
            "identifying speakers from voiceprints needs the episode audio: give `audio` (an `audio_url` in the event)"
        )
    policy = UrlPolicy.from_settings(ws.settings)
    check_fetch_target(audio, policy)  # we fetch it ourselves: refuse private hosts before loading the model
    embedder = load_voice_embedder(LOCAL_VOICEPRINT_MODEL)
    clips = _read_clips(clusters, turns, audio, tracks, policy)
    usable = [clip.size >= MIN_SAMPLES for clip in clips]
    vectors = embedder.embed_many([clip for clip, ok in zip(clips, usable, strict=True) if ok])
    scores = np.full((len(clusters), len(entries)), -np.inf)
    if vectors.size:
        scores[np.array(usable)] = cosine_scores(vectors, references)
        kept = [cluster for cluster, ok in zip(clusters, usable, strict=True) if ok]
        result.keep_embeddings(kept, vectors, [True] * len(kept))
    if ws.settings.audit_clips:
        _store_clips(ws, episode_id, clusters, clips, result)
    return _decide(result, clusters, entries, scores, _local_thresholds(ws, entries), corrected)


def _audit_clips(
    ws: Workspace,
    episode_id: str,
    clusters: list[Cluster],
    turns: Turns,
    audio: str,
    tracks: SpeakerTracks,
    result: SpeakerMap,
) -> None:
    """The representative clips ``audit_clips`` asks for, when the diarizer's own embeddings meant none was read.

    Only for the auditor: audio that cannot be read now leaves the clips out, never the identification.
    """
    from diarflow.adapters.url_policy import UrlPolicy, check_fetch_target
    from diarflow.errors import DiarflowError

    policy = UrlPolicy.from_settings(ws.settings)
    try:
        check_fetch_target(audio, policy)
        clips = _read_clips(clusters, turns, audio, tracks, policy)
    except DiarflowError as exc:
        log.warning("%s: the audit clips were not written: %s", episode_id, exc)
        return
    _store_clips(ws, episode_id, clusters, clips, result)


def _read_clips(
    clusters: list[Cluster], turns: Turns, audio: str, tracks: SpeakerTracks, policy: UrlPolicy
) -> list[NDArray[np.float32]]:
    """Each cluster's representative audio, in one decode, each speaker on its own track where it has one."""
    from diarflow.adapters.diarizers.local.audio import local_audio_path
    from diarflow.adapters.speaker_embedding import read_segments

    spans = [speaker_segments(turns, cluster.speaker_key) for cluster in clusters]
    with local_audio_path(audio, policy) as path:
        return read_segments(path, spans, tracks=listening_tracks([c.speaker_key for c in clusters], tracks, path))


def _store_clips(
    ws: Workspace, episode_id: str, clusters: list[Cluster], clips: list[NDArray[np.float32]], result: SpeakerMap
) -> None:
    from diarflow.adapters.speaker_embedding import write_wav

    for cluster, clip in zip(clusters, clips, strict=True):
        if clip.size:
            key = keys.clip_key(episode_id, cluster.label)
            ws.store.put_bytes(key, write_wav(clip), content_type="audio/wav")
            result.clips[cluster.speaker_key] = key


def listening_tracks(speakers: list[str], tracks: SpeakerTracks, path: Path) -> list[int | None] | None:
    """The track to hear each speaker on (None: the mix), or None when every speaker is heard on the mix.

    A cluster of one track is heard on that track alone, where the other voices are
    at most bleed; only when the audio has exactly the transcript's tracks, since
    otherwise track ``c`` of the file need not be channel ``c`` of the transcript.
    """
    from diarflow.adapters.diarizers.local.audio import count_tracks

    channel_of = tracks.speaker_channels or {}
    if not any(speaker in channel_of for speaker in speakers):
        return None
    found = count_tracks(path)
    if found != tracks.num_channels:
        log.warning(
            "%s has %d track(s), the transcript %s channels: speakers are heard on the mix",
            path.name,
            found,
            tracks.num_channels,
        )
        return None
    return [channel_of.get(speaker) for speaker in speakers]


# --- the decision -------------------------------------------------------------------------------


def _local_thresholds(ws: Workspace, entries: list[VoiceprintEntry]) -> NDArray[np.float64]:
    """Each entry's threshold: higher for one enrolled from little speech (docs/identification.md)."""
    return enrolment_thresholds(
        [entry.speech_seconds for entry in entries],
        threshold=ws.settings.match_threshold,
        short_threshold=ws.settings.short_enrolment_threshold,
    )


def _decide(
    result: SpeakerMap,
    clusters: list[Cluster],
    entries: list[VoiceprintEntry],
    scores: NDArray[np.float64],
    thresholds: NDArray[np.float64],
    corrected: Mapping[str, str] | None = None,
) -> SpeakerMap:
    """Collapse entries to people (the enrolment furthest above its threshold wins), decide, describe it."""
    margin = result.margin if result.margin is not None else 1.0
    scores = _held_back(scores, clusters, entries, corrected or {})
    gains, _, which = best_by_group(scores - thresholds, [entry.person for entry in entries])
    bars = thresholds[which]
    decision = identify_clusters(gains + bars, threshold=bars, margin=margin)
    for d in decision.decisions:
        if d.reference is not None and d.confidence is not None:
            entry = entries[int(which[d.cluster, d.reference])]
            result.named[clusters[d.cluster].speaker_key] = Named(entry.display_name, entry.voiceprint_id, d.confidence)
    result.warnings += _split_voices(decision.decisions, clusters, result.named)
    for miss in decision.near_misses:
        entry = entries[int(which[miss.cluster, miss.reference])]
        result.near_misses.append(
            {
                "clusterKey": clusters[miss.cluster].speaker_key,
                "confidence": round(min(1.0, max(0.0, miss.score)), 4),
                "threshold": miss.threshold,
                "referenceId": entry.voiceprint_id,
                "displayName": entry.display_name,
            }
        )
    return result


def _held_back(
    scores: NDArray[np.float64], clusters: list[Cluster], entries: list[VoiceprintEntry], corrected: Mapping[str, str]
) -> NDArray[np.float64]:
    """``scores`` with the speakers a correction named, and the people it named, out of the voice matching."""
    if not corrected:
        return scores
    named = {name.casefold() for name in corrected.values()}  # as VoiceprintEntry.person: both are display names
    held = scores.copy()
    held[[i for i, cluster in enumerate(clusters) if cluster.speaker_key in corrected], :] = -np.inf
    held[:, [j for j, entry in enumerate(entries) if entry.person in named]] = -np.inf
    return held


def _split_voices(decisions: list[ClusterDecision], clusters: list[Cluster], named: dict[str, Named]) -> list[str]:
    """One warning per person several clusters were named: the diarizer probably split their voice."""
    split = {named[clusters[d.cluster].speaker_key].display_name for d in decisions if d.outcome == "split_voice"}
    warnings = []
    for person in sorted(split):
        speakers = sorted(key for key, who in named.items() if who.display_name == person)
        text = f"{', '.join(speakers)} were all named {person}: probably one voice the diarizer split"
        warnings.append(_shortened(text, MAX_WARNING))
    return warnings


def _summary(exc: DiarflowError, what: str) -> ErrorSummary:
    message = _shortened(f"{what}: {exc.message}", MAX_ERROR_MESSAGE)
    return ErrorSummary(type=exc.type_name, message=message)


def _shortened(text: str, limit: int) -> str:
    """``text``, cut to ``limit`` characters with an ellipsis when longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
