"""Store glue for the report: read an episode's artifacts by key, render, write the page."""

from __future__ import annotations

import base64
import logging
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from diarflow.adapters.stores import ObjectStore, check_key, get_json
from diarflow.contracts import keys, validate_id
from diarflow.errors import ArtifactNotFound, DiarflowError, InvalidInput, StorageError
from diarflow.report.render import check_audio_src, render_report

log = logging.getLogger(__name__)

MAX_EMBEDDED_CLIP_BYTES = 2 * 1024 * 1024
"""A representative clip up to this size is embedded in the page (a ``data:`` URI)…"""
MAX_EMBEDDED_CLIPS_TOTAL = 6 * 1024 * 1024
"""…while all embedded clips together stay under this; larger ones are linked by relative path."""

_CLIP_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
}


@dataclass(frozen=True)
class ReportInputs:
    """An episode's artifacts as read from the store (``None``: absent)."""

    episode_id: str
    enriched: Mapping[str, Any] | None
    diarization: Mapping[str, Any] | None
    audit: Mapping[str, Any] | None
    error: Any
    clips: dict[str, str] = field(default_factory=dict)
    """Cluster label → clip source (``data:`` URI, or a path relative to the report's key)."""
    notes: list[str] = field(default_factory=list)


def write_report(
    store: ObjectStore, episode_id: str, *, audio_src: str | None = None, enriched: Mapping[str, Any] | None = None
) -> str:
    """Render the episode's report and store it at ``diarization/<id>.report.html``; return that key.

    Reads the enriched transcript, raw diarization, audit and error artifacts
    of ``episode_id`` (each optional but the first: a run that failed before
    enrichment still gets a page when its error artifact exists) and the
    audit's representative clips (embedded when small, else linked by a path
    relative to the report).

    ``audio_src`` is what the page's player loads: an unsigned URL, or a path
    relative to where the page is opened. One that carries credentials (a
    signed URL) or an unsupported scheme is left out with a warning, so the
    stored page never leaks it. ``enriched`` is the enriched transcript when the
    caller holds it already (the pipeline, which just wrote it): it is not read back.

    Raises :class:`~diarflow.errors.InvalidId` for a malformed id (before any
    I/O), :class:`~diarflow.errors.ArtifactNotFound` when the episode has
    neither an enriched transcript nor an error artifact, and
    :class:`~diarflow.errors.StorageError` when the store fails. The pipeline
    calls this as its last step and must catch and log every exception: a
    failed report never fails the run.
    """
    page = render_episode_report(store, episode_id, audio_src=audio_src, enriched=enriched)
    return store_report(store, episode_id, page)


def render_episode_report(
    store: ObjectStore, episode_id: str, *, audio_src: str | None = None, enriched: Mapping[str, Any] | None = None
) -> str:
    """Read the episode's artifacts and render its report page (see :func:`write_report`)."""
    episode_id = validate_id(episode_id)
    inputs = read_report_inputs(store, episode_id, enriched=enriched)
    return render_report(
        inputs.enriched,
        inputs.diarization,
        inputs.audit,
        inputs.error,
        audio_src=_usable_audio_src(audio_src),
        clips=inputs.clips,
        episode_id=episode_id,
        notes=inputs.notes,
    )


def store_report(store: ObjectStore, episode_id: str, page: str) -> str:
    """Write a rendered page at the episode's report key; return the key."""
    key = keys.report_key(episode_id)
    store.put_bytes(key, page.encode("utf-8"), content_type="text/html; charset=utf-8")
    log.info("wrote report %s (%d bytes)", key, len(page))
    return key


def read_report_inputs(
    store: ObjectStore, episode_id: str, *, enriched: Mapping[str, Any] | None = None
) -> ReportInputs:
    """Read what the report shows; a missing or corrupt optional artifact becomes a note."""
    episode_id = validate_id(episode_id)
    notes: list[str] = []
    enriched_key = keys.enriched_key(episode_id)
    if enriched is None:
        enriched = _read_optional(store, enriched_key, notes, required=True)
    error = _read_optional(store, keys.error_key(episode_id), notes)
    if enriched is None and error is None:
        raise ArtifactNotFound(
            f"no enriched transcript for episode {episode_id} in {store.url} ({enriched_key} is missing): "
            "run `diarflow run` first",
            key=enriched_key,
        )
    corrected, raw = keys.diarizations_in_use(episode_id)  # the timeline shows the speakers as corrected
    diarization = _read_optional(store, corrected if store.exists(corrected) else raw, notes)
    audit = _read_optional(store, keys.audit_key(episode_id), notes)
    clips = _clips(store, episode_id, audit, notes)
    return ReportInputs(episode_id, _mapping(enriched), _mapping(diarization), _mapping(audit), error, clips, notes)


def _read_optional(store: ObjectStore, key: str, notes: list[str], *, required: bool = False) -> Any:
    try:
        return get_json(store, key)
    except ArtifactNotFound:
        return None
    except StorageError as exc:
        if required or exc.retryable:
            raise
        log.warning("report: %s", exc.message)
        notes.append(f"{key} could not be read ({exc.message}); it is left out.")
        return None


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def _clips(store: ObjectStore, episode_id: str, audit: Any, notes: list[str]) -> dict[str, str]:
    """Each cluster's representative clip that exists in the store, by label."""
    clips: dict[str, str] = {}
    embedded_total = 0
    report_dir = posixpath.dirname(keys.report_key(episode_id))
    for label, key in _clip_keys(episode_id, audit):
        try:
            if not store.exists(key):
                continue
            data = store.get_bytes(key) if embedded_total < MAX_EMBEDDED_CLIPS_TOTAL else None
        except DiarflowError as exc:
            notes.append(f"The clip of cluster {label} could not be read ({exc.message}).")
            continue
        if (
            data is not None
            and len(data) <= MAX_EMBEDDED_CLIP_BYTES
            and embedded_total + len(data) <= MAX_EMBEDDED_CLIPS_TOTAL
        ):
            media_type = _CLIP_TYPES.get(posixpath.splitext(key)[1].lower(), "audio/wav")
            clips[label] = f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
            embedded_total += len(data)
        else:
            clips[label] = posixpath.relpath(key, report_dir)
    return clips


def _clip_keys(episode_id: str, audit: Any) -> list[tuple[str, str]]:
    """(label, key) of every cluster: the audit's ``clipKey``, else the conventional key."""
    clusters = audit.get("clusters") if isinstance(audit, Mapping) else None
    found: list[tuple[str, str]] = []
    for cluster in clusters if isinstance(clusters, list) else []:
        if not isinstance(cluster, Mapping) or not isinstance(cluster.get("label"), str):
            continue
        label = cluster["label"]
        representative = cluster.get("representative")
        written = representative.get("clipKey") if isinstance(representative, Mapping) else None
        try:
            key = check_key(written) if isinstance(written, str) else keys.clip_key(episode_id, label)
        except InvalidInput:
            continue
        found.append((label, key))
    return found


def _usable_audio_src(audio_src: str | None) -> str | None:
    try:
        check_audio_src(audio_src)
    except InvalidInput as exc:
        log.warning("report: audio source left out: %s", exc.message)
        return None
    return audio_src
