"""What step bodies need besides their arguments: the store, settings and a per-run memo."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, TypeAlias, get_args

from diarflow.adapters.stores import ObjectStore, get_json
from diarflow.config import Settings
from diarflow.contracts import DiarizationSourceName
from diarflow.contracts.results import StoredRef
from diarflow.domain.json_values import shown
from diarflow.domain.transcript import Transcript, parse_transcript
from diarflow.domain.turns import Turns
from diarflow.orchestration.limits import (
    check_diarization_size,
    check_segment_count,
    check_transcript_size,
)


def digest(data: bytes) -> str:
    """A short content hash: downstream steps take it as an argument, so a changed input reruns them."""
    return hashlib.blake2b(data, digest_size=12).hexdigest()


JSONDocument: TypeAlias = dict[str, Any]
"""A stored JSON artifact as decoded (a raw diarization, an enriched transcript)."""


@dataclass
class RunMemo:
    """Documents parsed by one step and read again by later ones in the same process (the local runner).

    Each is held under the exact bytes it came from (key and content digest), so a
    step that names other bytes never sees a stale copy. Inngest builds a fresh
    workspace per request, where the memo only spares re-parsing within a step.
    """

    transcripts: dict[StoredRef, Transcript] = field(default_factory=dict)
    stored_transcripts: dict[tuple[str, str | None], StoredRef] = field(default_factory=dict)
    """(key, store version) of a transcript whose bytes are known (seeded by the CLI), to its digest."""
    diarizations: dict[StoredRef, JSONDocument] = field(default_factory=dict)
    enriched: dict[StoredRef, JSONDocument] = field(default_factory=dict)
    """Enriched transcripts as written, so the report is drawn without reading 20 MB back."""

    def clear(self) -> None:
        self.transcripts.clear()
        self.stored_transcripts.clear()
        self.diarizations.clear()
        self.enriched.clear()


@dataclass
class Workspace:
    """Services shared by the steps of one engine; cheap to build per run or per request.

    ``memo`` caches parsed inputs by key and content digest so that steps run
    in the same process (the local runner) parse a 24 MB transcript once.
    """

    store: ObjectStore
    settings: Settings = field(default_factory=Settings)
    memo: RunMemo = field(default_factory=RunMemo)

    def read_transcript(self, source: str | StoredRef) -> tuple[Transcript, str]:
        """Parse the transcript at a key, or the one a step was given; the digest names the exact bytes parsed."""
        key = source if isinstance(source, str) else source.key
        if isinstance(source, StoredRef) and source in self.memo.transcripts:
            return self.memo.transcripts[source], source.digest
        # Seeded by the CLI: while the stored object is the one it wrote, its digest is known without re-reading.
        seeded = self.memo.stored_transcripts.get((key, self.store.version(key)))
        if seeded is not None and seeded in self.memo.transcripts:
            return self.memo.transcripts[seeded], seeded.digest
        check_transcript_size(self.store.size(key), self.settings.max_transcript_bytes)  # before reading it
        data = self.store.get_bytes(key)
        check_transcript_size(len(data), self.settings.max_transcript_bytes)  # a store that could not tell
        read = StoredRef(key=key, digest=digest(data))
        cached = self.memo.transcripts.get(read)
        if cached is not None:
            return cached, read.digest
        transcript = parse_transcript(data)
        self.memo.transcripts[read] = transcript
        return transcript, read.digest

    def remember_transcript(self, key: str, data: bytes, transcript: Transcript) -> None:
        """Seed the memo with a transcript already parsed and stored at ``key`` (e.g. by the CLI)."""
        stored = StoredRef(key=key, digest=digest(data))
        self.memo.transcripts[stored] = transcript
        self.memo.stored_transcripts[(key, self.store.version(key))] = stored

    def read_turns(self, diarization: StoredRef, *, exclusive: bool = False) -> tuple[Turns, JSONDocument]:
        """A diarization a step was given: its turns (exclusive ones when present and asked for) and the document."""
        key = diarization.key
        if diarization not in self.memo.diarizations:
            check_diarization_size(self.store.size(key), self.settings.max_segments, field=key)
            document = get_json(self.store, key)
            if not isinstance(document, dict):
                from diarflow.errors import InvalidDiarization

                raise InvalidDiarization(key, "must be a JSON object")
            _check_diarization_document(key, document)
            self.memo.diarizations[diarization] = document
        document = self.memo.diarizations[diarization]
        segments = document.get("exclusive_segments") if exclusive else None
        for name in ("segments", "exclusive_segments"):
            if isinstance(document.get(name), list):
                check_segment_count(len(document[name]), self.settings.max_segments, field=f"{key}:{name}")
        if segments:
            return Turns.from_segments(segments, path=f"{key}:exclusive_segments"), document
        return Turns.from_segments(document.get("segments") or [], path=f"{key}:segments"), document


def _check_diarization_document(key: str, document: dict[str, Any]) -> None:
    """The fields every step reads from a stored diarization, so a corrupted one fails naming the field."""
    from diarflow.errors import InvalidDiarization

    sources = get_args(DiarizationSourceName)
    if "source" not in document:
        raise InvalidDiarization(f"{key}:source", f"is missing (one of {', '.join(sources)})")
    if document["source"] not in sources:
        got = shown(document["source"])
        raise InvalidDiarization(f"{key}:source", f"must be one of {', '.join(sources)}, got {got}")
    for name in ("segments", "exclusive_segments"):
        if document.get(name) is not None and not isinstance(document[name], list):
            raise InvalidDiarization(f"{key}:{name}", "must be an array of segments")
