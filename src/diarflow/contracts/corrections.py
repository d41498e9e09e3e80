"""``diarization/<id>.corrections.json``: a person's fixes to an episode's speakers (docs/corrections.md).

Corrections name the raw diarization's speaker keys (``SPEAKER_00``), never the
canonical labels ``A``/``B``: labels are renumbered whenever the clusters
change, keys are not. The artifact is append-only: commands add corrections,
never edit or reorder them, and each one says who made it and when.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from diarflow.contracts._base import SCHEMA_VERSION, Contract, ContractT, EpisodeId, TimePoint
from diarflow.contracts.voiceprints import VoiceprintId
from diarflow.errors import InvalidCorrection

SpeakerKey = Annotated[str, Field(min_length=1, max_length=256)]
"""A speaker of the diarization (``SPEAKER_00``), as the raw diarization's segments name it."""
DisplayName = Annotated[str, Field(min_length=1, max_length=256, pattern=r"\S")]
"""The name a person gives a speaker (``Diane``); never blank."""


class _Correction(Contract):
    """What every correction carries: who made it and when. Unknown fields are refused (a misspelt one)."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    author: str = Field(min_length=1, max_length=128)
    created_at: str = Field(min_length=1, max_length=64)
    """ISO-8601 UTC, as :func:`~diarflow.contracts.utc_now` writes it."""


class Rename(_Correction):
    """Show ``speaker`` as ``name`` (wins over a voiceprint match); with ``enroll``, also learn the voice."""

    op: Literal["rename"] = "rename"
    speaker: SpeakerKey
    name: DisplayName
    enroll: bool = False
    """Enrol the speaker's best speech as a voiceprint of the episode's podcast, named ``name``."""
    voiceprint_id: VoiceprintId | None = None
    """The voiceprint that enrolment stored (written by the command; given in a file, the id to store it as)."""

    @model_validator(mode="after")
    def _voiceprint_needs_enroll(self) -> Rename:
        if self.voiceprint_id is not None and not self.enroll:
            raise ValueError("`voiceprint_id` names the voiceprint an enrolment stores: set `enroll` too")
        return self


class Merge(_Correction):
    """``merged``'s turns become ``speaker``'s: the diarizer split one voice in two."""

    op: Literal["merge"] = "merge"
    speaker: SpeakerKey
    merged: SpeakerKey


class Assign(_Correction):
    """Everything said in ``[start, end)`` goes to ``speaker`` (an existing one) or to a speaker called ``name``."""

    op: Literal["assign"] = "assign"
    start: TimePoint
    end: TimePoint
    speaker: SpeakerKey | None = None
    name: DisplayName | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Assign:
        if (self.speaker is None) == (self.name is None):
            raise ValueError("give exactly one of `speaker` (an existing speaker) or `name` (who it was)")
        return self


Correction = Annotated[Rename | Merge | Assign, Field(discriminator="op")]
CORRECTION_OPS = ("rename", "merge", "assign")


class NameCorrection(Contract):
    """A speaker's name that a correction gave: the name, who gave it, when, and which correction it was.

    Carried by the corrected diarization (``corrected_names``) and by the audit's cluster (``namedBy``).
    """

    name: DisplayName
    author: str = Field(min_length=1, max_length=128)
    created_at: str = Field(alias="createdAt", min_length=1, max_length=64)
    correction: int = Field(ge=0)
    """Its index in ``diarization/<id>.corrections.json``."""
    voiceprint_id: str | None = Field(default=None, alias="voiceprintId", max_length=128)
    """The voiceprint the correction enrolled from this speaker's speech (``rename --enroll``), if any."""


class CorrectionsArtifact(Contract):
    """``diarization/<id>.corrections.json``: every correction of the episode, oldest first."""

    schema_version: int = SCHEMA_VERSION
    episode_id: EpisodeId
    corrections: list[Correction]


class CorrectionList(Contract):
    """A list of corrections on its own (what ``diarflow speakers apply`` reads)."""

    corrections: list[Correction]


def parse_corrections(items: object, *, where: str) -> list[Rename | Merge | Assign]:
    """A decoded JSON list of corrections, checked; the first defect names ``where[i].field``."""
    return _validated(CorrectionList, {"corrections": items}, where=where).corrections


def parse_corrections_artifact(document: object, *, where: str) -> CorrectionsArtifact:
    """The stored artifact, checked; a defect names ``where:corrections[i].field``."""
    return _validated(CorrectionsArtifact, document, where=where)


def _validated(model: type[ContractT], data: object, *, where: str) -> ContractT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidCorrection(
            where_in(where, first["loc"], list_only=model is CorrectionList), _problem(first)
        ) from None


def where_in(where: str, loc: tuple[int | str, ...], *, list_only: bool) -> str:
    """``corrections[2].speaker`` (a list given alone, ``where`` naming it) or ``<key>:corrections[2].speaker``."""
    path = ""
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not (isinstance(previous, int) and part in CORRECTION_OPS):  # the union's tag is not a field
            path += f".{part}" if path else part
        previous = part
    if list_only:
        return where + path.removeprefix("corrections")
    return f"{where}:{path}" if path else where


def _problem(error: Any) -> str:
    if error["type"] == "union_tag_invalid":
        return f"`op` must be one of {', '.join(CORRECTION_OPS)}, got {error['input'].get('op')!r}"
    if error["type"] == "union_tag_not_found":
        return f"`op` is missing (one of {', '.join(CORRECTION_OPS)})"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")
