"""The voiceprint registry: entries at ``voiceprints/<podcast_id>/<voiceprint_id>.json`` in the object store.

No index object: the listing of the podcast's prefix *is* the registry, so an
entry added or removed by hand (or by another machine) is seen at once, and
there is nothing to keep consistent. A podcast has a handful of voices, so
reading them all per episode costs a LIST and a few GETs.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError

from diarflow.adapters.stores import ObjectStore, dump_json, get_json
from diarflow.contracts import VoiceprintEntry, keys, validate_id
from diarflow.errors import (
    AlreadyExists,
    ArtifactNotFound,
    InvalidInput,
    InvalidVoiceprintEntry,
    VoiceprintExists,
    VoiceprintNotFound,
)

log = logging.getLogger(__name__)


class VoiceprintRegistry:
    """Read and write a store's voiceprint entries; every method validates its ids before any I/O."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def add(self, entry: VoiceprintEntry) -> str:
        """Store a new entry and return its key; :class:`VoiceprintExists` if the id is taken."""
        key = keys.voiceprint_key(entry.podcast_id, entry.voiceprint_id)
        data = dump_json(entry.to_json_dict())
        try:
            created = self.store.create_if_absent(key, data, content_type="application/json")
        except AlreadyExists:
            created = False
        if not created:
            raise VoiceprintExists(
                "voiceprint_id",
                f"{entry.voiceprint_id!r} already exists in podcast {entry.podcast_id}: "
                f"choose another `voiceprint_id`, or "
                f"remove it first (diarflow voiceprints remove --podcast-id {entry.podcast_id} {entry.voiceprint_id})",
            )
        return key

    def replace(self, entry: VoiceprintEntry) -> str:
        """Overwrite an existing entry (migration keeps its id); :class:`VoiceprintNotFound` if there is none."""
        key = keys.voiceprint_key(entry.podcast_id, entry.voiceprint_id)
        if not self.store.exists(key):
            raise VoiceprintNotFound("voiceprint_id", self._missing(entry.podcast_id, entry.voiceprint_id))
        self.store.put_bytes(key, dump_json(entry.to_json_dict()), content_type="application/json")
        return key

    def get(self, podcast_id: str, voiceprint_id: str) -> VoiceprintEntry:
        key = keys.voiceprint_key(podcast_id, voiceprint_id)
        try:
            document = get_json(self.store, key)
        except ArtifactNotFound:
            raise VoiceprintNotFound("voiceprint_id", self._missing(podcast_id, voiceprint_id)) from None
        return _parse(key, document)

    def entries(self, podcast_id: str) -> list[VoiceprintEntry]:
        """Every entry of the podcast, by id. Storage errors propagate (the caller decides how to degrade)."""
        prefix = keys.voiceprints_prefix(podcast_id)
        found = []
        for key in self.store.list(prefix):
            name = key[len(prefix) :]
            if "/" in name or not name.endswith(".json"):
                continue  # not an entry (e.g. something stored by hand in a sub-folder)
            try:
                validate_id(name.removesuffix(".json"), "voiceprint_id")
            except InvalidInput:
                log.warning("ignoring %s: its name is not a voiceprint id", key)
                continue
            try:
                document = get_json(self.store, key)
            except ArtifactNotFound:
                continue  # removed between the listing and the read
            found.append(_parse(key, document))
        return found

    def remove(self, podcast_id: str, voiceprint_id: str) -> None:
        key = keys.voiceprint_key(podcast_id, voiceprint_id)
        if not self.store.exists(key):
            raise VoiceprintNotFound("voiceprint_id", self._missing(podcast_id, voiceprint_id))
        self.store.delete(key)

    @staticmethod
    def _missing(podcast_id: str, voiceprint_id: str) -> str:
        return (
            f"no voiceprint {voiceprint_id!r} in podcast {podcast_id}: "
            f"see diarflow voiceprints list --podcast-id {podcast_id}"
        )


def _parse(key: str, document: object) -> VoiceprintEntry:
    try:
        entry = VoiceprintEntry.model_validate(document)
    except (ValidationError, InvalidInput) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "entry"
            problem = f"{where}: {first['msg']}"
        else:
            problem = exc.message
        raise InvalidVoiceprintEntry(
            f"voiceprint entry {key} is not valid ({problem}): remove it and enrol the voice again", key=key
        ) from None
    expected = keys.voiceprint_key(entry.podcast_id, entry.voiceprint_id)
    if expected != key:
        raise InvalidVoiceprintEntry(
            f"voiceprint entry {key} names itself {expected}: it was copied or renamed by hand; enrol the voice again",
            key=key,
        )
    return entry
