"""Speaker corrections in the store: the append-only artifact, and the step that applies it (docs/corrections.md).

``apply-corrections-v1`` runs between the diarizer and identification. It
never touches the diarizer's own output: with corrections it writes
``diarization/<id>.corrected.json`` (the raw diarization's shape, corrected
turns, plus ``corrected_names``); without any it passes the raw diarization
through and removes a corrected copy left from corrections since dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from diarflow.adapters.stores import ObjectStore, get_json, put_json
from diarflow.contracts import SCHEMA_VERSION, keys
from diarflow.contracts.corrections import (
    Assign,
    CorrectionsArtifact,
    Merge,
    NameCorrection,
    Rename,
    parse_corrections_artifact,
)
from diarflow.contracts.results import CorrectionsInfo, StoredRef
from diarflow.contracts.step_args import CorrectionsArgs
from diarflow.domain.corrections import CorrectedTurns, apply_corrections, speakers_of
from diarflow.errors import ArtifactNotFound
from diarflow.orchestration.stages import put_diarization
from diarflow.orchestration.steps import Step
from diarflow.orchestration.workspace import JSONDocument, Workspace, digest

CorrectionT = Rename | Merge | Assign


def read_corrections(store: ObjectStore, episode_id: str) -> list[CorrectionT]:
    """The episode's corrections, oldest first ([] when there are none); a defect names its field."""
    key = keys.corrections_key(episode_id)
    try:
        document = get_json(store, key)
    except ArtifactNotFound:
        return []
    return list(parse_corrections_artifact(document, where=key).corrections)


def append_corrections(store: ObjectStore, episode_id: str, added: Sequence[CorrectionT]) -> list[CorrectionT]:
    """Add ``added`` after the stored corrections (never editing those) and return them all.

    The caller holds the episode's lease, so no run or other command writes the artifact meanwhile.
    """
    every = read_corrections(store, episode_id) + list(added)
    artifact = CorrectionsArtifact(episode_id=episode_id, corrections=every)
    put_json(store, keys.corrections_key(episode_id), artifact.to_json_dict())
    return every


def forget_corrections(store: ObjectStore, episode_id: str) -> None:
    """Forget the episode's corrections (``diarflow run --drop-corrections``)."""
    store.delete(keys.corrections_key(episode_id))


def check_corrections(
    ws: Workspace,
    episode_id: str,
    transcript_key: str,
    existing: Sequence[CorrectionT],
    added: Sequence[CorrectionT],
    *,
    where: str,
) -> tuple[CorrectedTurns, JSONDocument]:
    """Apply ``existing`` then ``added`` to the stored diarization, as the step will, without writing anything.

    An error names a stored correction by the artifact's key, an added one as ``where[i]``. Returns the
    corrected turns and the raw diarization's document.
    """
    key = keys.diarization_key(episode_id)
    diarization = StoredRef(key=key, digest=digest(ws.store.get_bytes(key)))
    transcript, _ = ws.read_transcript(transcript_key)
    stored = f"{keys.corrections_key(episode_id)}:corrections"

    def field_of(index: int) -> str:
        return f"{stored}[{index}]" if index < len(existing) else f"{where}[{index - len(existing)}]"

    return corrected_turns(ws, diarization, [*existing, *added], episode_end=transcript.duration, field_of=field_of)


def corrected_turns(
    ws: Workspace,
    diarization: StoredRef,
    corrections: Sequence[CorrectionT],
    *,
    episode_end: float,
    field_of: Callable[[int], str],
) -> tuple[CorrectedTurns, JSONDocument]:
    """``corrections`` applied to a stored diarization; ``field_of(i)`` names correction ``i`` in an error."""
    segments, document = ws.read_turns(diarization)
    exclusive = ws.read_turns(diarization, exclusive=True)[0] if document.get("exclusive_segments") else None
    last_turn = max(
        (float(turns.ends.max()) for turns in (segments, exclusive) if turns is not None and len(turns)), default=0.0
    )
    corrected = apply_corrections(
        segments, exclusive, corrections, episode_end=max(episode_end, last_turn), field_of=field_of
    )
    return corrected, document


def apply_speaker_corrections(ws: Workspace, args: CorrectionsArgs) -> CorrectionsInfo:
    """``apply-corrections-v1``: the diarization the later steps read (module docstring)."""
    corrections_key = keys.corrections_key(args.episode_id)
    corrected_key = keys.corrected_diarization_key(args.episode_id)
    corrections = read_corrections(ws.store, args.episode_id)
    if not corrections:
        ws.store.delete(corrected_key)  # left by corrections since dropped: exports and the report must not read it
        turns, _ = ws.read_turns(args.diarization)
        return CorrectionsInfo(
            s3_corrections_key=corrections_key,
            s3_diarization_key=args.diarization.key,
            digest=args.diarization.digest,
            num_corrections=0,
            num_speakers=turns.num_speakers,
        )
    corrected, raw = corrected_turns(
        ws,
        args.diarization,
        corrections,
        episode_end=args.episode_end,
        field_of=lambda index: f"{corrections_key}:corrections[{index}]",
    )
    written = put_diarization(ws, corrected_key, corrected_document(raw, corrected))
    return CorrectionsInfo(
        s3_corrections_key=corrections_key,
        s3_diarization_key=corrected_key,
        digest=written.digest,
        num_corrections=len(corrections),
        num_speakers=len(speakers_of(corrected)),
    )


def corrected_document(raw: JSONDocument, corrected: CorrectedTurns) -> JSONDocument:
    """The raw diarization's document with corrected turns; per-speaker fields keep only speakers still present."""
    present = set(speakers_of(corrected))
    document: dict[str, Any] = {
        **raw,
        "schema_version": SCHEMA_VERSION,
        "segments": corrected.segments.to_segments(),
        "exclusive_segments": corrected.exclusive.to_segments() if corrected.exclusive is not None else None,
        "corrected_names": {
            speaker: NameCorrection(
                name=origin.name,
                author=origin.author,
                created_at=origin.created_at,
                correction=origin.index,
                voiceprint_id=origin.voiceprint_id,
            ).model_dump(mode="json", exclude_none=True)
            for speaker, origin in corrected.names.items()
        },
    }
    if isinstance(raw.get("speaker_channels"), dict):
        document["speaker_channels"] = {s: c for s, c in raw["speaker_channels"].items() if s in present}
    embeddings = raw.get("cluster_embeddings")
    if isinstance(embeddings, dict) and isinstance(embeddings.get("speakers"), dict):
        speakers = {s: v for s, v in embeddings["speakers"].items() if s in present}
        document["cluster_embeddings"] = {**embeddings, "speakers": speakers}
    return document


CORRECT = Step("apply-corrections-v1", CorrectionsArgs, CorrectionsInfo, apply_speaker_corrections)
