"""Exports from the store: read only the artifacts the chosen formats need (rendering is pure, in domain.exports)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from diarflow.adapters.stores import ObjectStore, get_json
from diarflow.contracts import keys
from diarflow.domain.exports import FORMATS, CaptionOptions, EpisodeExport, ExportFormat
from diarflow.errors import ArtifactNotFound


def read_episode_export(store: ObjectStore, episode_id: str, formats: Iterable[ExportFormat]) -> EpisodeExport:
    """The episode as ``formats`` need it, reading no artifact they do not.

    Raises :class:`~diarflow.errors.ArtifactNotFound` naming the missing
    artifact and what to do, and :class:`~diarflow.errors.InvalidInput` (with
    the JSON path of the defect) when a stored artifact is malformed.
    """
    formats = list(formats)
    needs_words = any(fmt.needs_words for fmt in formats)
    needs_turns = any(fmt.needs_turns for fmt in formats)
    enriched_key = keys.enriched_key(episode_id)
    enriched = _read(store, enriched_key, episode_id, "enriched transcript") if needs_words else None
    diarization = audit = None
    if needs_turns:
        corrected, raw = keys.diarizations_in_use(episode_id)  # a person's corrections apply to every export
        diarization = _read(store, corrected if store.exists(corrected) else raw, episode_id, "diarization")
        # RTTM names speakers as identification did: the audit says so in a few
        # KB; the enriched transcript (megabytes) only when there is no audit.
        audit = _read_optional(store, keys.audit_key(episode_id))
        if audit is None and enriched is None:
            enriched = _read_optional(store, enriched_key)
    return EpisodeExport.from_artifacts(episode_id, enriched=enriched, diarization=diarization, audit=audit)


def _read(store: ObjectStore, key: str, episode_id: str, what: str) -> Any:
    try:
        return get_json(store, key)
    except ArtifactNotFound:
        hint = (
            f"its last run failed (see {keys.error_key(episode_id)} or `diarflow show {episode_id}`)"
            if store.exists(keys.error_key(episode_id))
            else "run `diarflow run` first"
        )
        raise ArtifactNotFound(
            f"no {what} for episode {episode_id} in {store.url} ({key} is missing): {hint}", key=key
        ) from None


def _read_optional(store: ObjectStore, key: str) -> Any:
    try:
        return get_json(store, key)
    except ArtifactNotFound:
        return None


def refresh_stored_exports(store: ObjectStore, episode_id: str) -> list[str]:
    """Render again the exports ``diarflow export --format all`` left in the store (default options); their keys.

    After a correction the stored files would otherwise show the old speakers.
    """
    stored = set(store.list(keys.exports_prefix(episode_id)))
    formats = [fmt for fmt in FORMATS.values() if export_key(episode_id, fmt) in stored]
    if not formats:
        return []
    episode = read_episode_export(store, episode_id, formats)
    rendered = [(fmt, fmt.write(episode, CaptionOptions())) for fmt in formats]  # all rendered before any is written
    for fmt, text in rendered:
        store.put_bytes(export_key(episode_id, fmt), text.encode("utf-8"), content_type=fmt.media_type)
    return [export_key(episode_id, fmt) for fmt in formats]


def export_key(episode_id: str, fmt: ExportFormat) -> str:
    """Where ``--format all`` writes one format: ``diarization/<id>/exports/<id>.<ext>``."""
    return f"{keys.exports_prefix(episode_id)}{episode_id}.{fmt.extension}"
