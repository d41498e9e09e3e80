"""What step bodies need besides their arguments: the store, settings and a per-run memo."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, get_args

from diarflow.adapters.stores import ObjectStore, get_json
from diarflow.config import Settings
from diarflow.contracts import DiarizationSourceName
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


@dataclass
class Workspace:
    """Services shared by the steps of one engine; cheap to build per run or per request.

    ``memo`` caches parsed inputs by key and content digest so that steps run
    in the same process (the local runner) parse a 24 MB transcript once.
    """

    store: ObjectStore
    settings: Settings = field(default_factory=Settings)
    memo: dict[tuple[str, str], Any] = field(default_factory=dict)

    def read_transcript(self, key: str, expected_digest: str | None = None) -> tuple[Transcript, str]:
        """Parse the transcript at ``key``; the digest names the exact bytes parsed."""
        if expected_digest is not None and ("transcript", key + expected_digest) in self.memo:
            return self.memo[("transcript", key + expected_digest)], expected_digest
        # Seeded by the CLI: while the stored object is the one it wrote, its digest is known without re-reading.
        seeded: tuple[Transcript, str] | None = self.memo.get(
            ("transcript-version", f"{key}@{self.store.version(key)}")
        )
        if seeded is not None:
            return seeded
        check_transcript_size(self.store.size(key), self.settings.max_transcript_bytes)  # before reading it
        data = self.store.get_bytes(key)
        check_transcript_size(len(data), self.settings.max_transcript_bytes)  # a store that could not tell
        content_digest = digest(data)
        cached = self.memo.get(("transcript", key + content_digest))
        if cached is not None:
            return cached, content_digest
        transcript = parse_transcript(data)
        self.memo[("transcript", key + content_digest)] = transcript
        return transcript, content_digest

    def remember_transcript(self, key: str, data: bytes, transcript: Transcript) -> None:
        """Seed the memo with a transcript already parsed and stored at ``key`` (e.g. by the CLI)."""
        content_digest = digest(data)
        self.memo[("transcript", key + content_digest)] = transcript
        self.memo[("transcript-version", f"{key}@{self.store.version(key)}")] = (transcript, content_digest)

    def read_turns(self, key: str, expected_digest: str, *, exclusive: bool = False) -> tuple[Turns, dict[str, Any]]:
        """The diarization at ``key``: its turns (exclusive ones when present and asked for) and the document."""
        memo_key = ("diarization", key + expected_digest)
        if memo_key not in self.memo:
            check_diarization_size(self.store.size(key), self.settings.max_segments, field=key)
            document = get_json(self.store, key)
            if not isinstance(document, dict):
                from diarflow.errors import InvalidDiarization

                raise InvalidDiarization(key, "must be a JSON object")
            _check_diarization_document(key, document)
            self.memo[memo_key] = document
        document = self.memo[memo_key]
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
