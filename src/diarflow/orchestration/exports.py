"""Exports from the store: read only the artifacts the chosen formats need (rendering is pure, in domain.exports)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from diarflow.adapters.stores import ObjectStore, get_json
from diarflow.contracts import keys
from diarflow.domain.exports import EpisodeExport, ExportFormat
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
        diarization = _read(store, keys.diarization_key(episode_id), episode_id, "diarization")
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
