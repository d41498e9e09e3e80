"""Voiceprint registry entries: ``voiceprints/<podcast_id>/<voiceprint_id>.json``.

One entry holds one reference voice of one person for one model: a CAM++
embedding (``campplus-cn-en-common``, matched locally), a GE2E embedding
(``resemblyzer-ge2e``, what registries held before CAM++; still matched, by
GE2E only, until ``diarflow voiceprints migrate`` re-embeds it) or a
pyannoteAI voiceprint string (``pyannoteai-precision-2``, sent to
``/v1/identify``). Enrolling a person with a pyannoteAI key set writes a local
and a pyannoteAI entry. Embeddings of different models are never compared.
"""

from __future__ import annotations

import math
import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from diarflow.contracts._base import SCHEMA_VERSION, Contract, PodcastId, Probability, Seconds, TimePoint
from diarflow.contracts.ids import validate_id

CAMPPLUS_VOICEPRINT_MODEL = "campplus-cn-en-common"
"""3D-Speaker's CAM++ (192-d, the weights ``campplus_cn_en_common.pt``; docs/models.md)."""
GE2E_VOICEPRINT_MODEL = "resemblyzer-ge2e"
"""The previous local model (256-d GE2E): entries of it still match, by GE2E only, until migrated."""
LOCAL_VOICEPRINT_MODEL = CAMPPLUS_VOICEPRINT_MODEL
"""The model ``enroll`` and ``migrate`` write for local matching."""
LOCAL_VOICEPRINT_MODELS = (CAMPPLUS_VOICEPRINT_MODEL, GE2E_VOICEPRINT_MODEL)
"""Models matched against local embeddings, the current one first."""
EMBEDDING_SIZES = {CAMPPLUS_VOICEPRINT_MODEL: 192, GE2E_VOICEPRINT_MODEL: 256}
"""How many numbers an embedding of each local model has (a hand-edited entry must not reach the cosine)."""
PYANNOTE_VOICEPRINT_PREFIX = "pyannoteai-"
"""pyannoteAI entries are named ``pyannoteai-<model>``, e.g. ``pyannoteai-precision-2``."""
PYANNOTE_VOICEPRINT_MODEL = "pyannoteai-precision-2"
"""pyannoteAI's /v1/voiceprint and /v1/identify both run precision-2 (the client's default)."""
MAX_DISPLAY_NAME = 200

VoiceprintState = Literal["current", "outdated"]

VoiceprintId = Annotated[str, AfterValidator(lambda v: validate_id(v, "voiceprint_id"))]


def pyannote_voiceprint_model(model: str) -> str:
    """The registry model name of a pyannoteAI voiceprint made with ``model`` (e.g. precision-2)."""
    return PYANNOTE_VOICEPRINT_PREFIX + model


def check_display_name(value: str) -> str:
    """A person's name as shown in transcripts: 1-200 printable characters, trimmed."""
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise ValueError("must not be empty")
    if len(name) > MAX_DISPLAY_NAME:
        raise ValueError(f"is {len(name)} characters long; the limit is {MAX_DISPLAY_NAME}")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise ValueError("must not contain control or invisible format characters")
    return name


class VoiceprintSource(Contract):
    """Where the enrolment audio came from (a file name or a URL without its query).

    An entry enrolled from a speaker correction (``diarflow speakers rename --enroll``) also
    says which episode, speaker and correction it came from, who made it, and which stretches
    of the episode were heard (the speaker's representative turns).
    """

    audio: str = Field(max_length=2048)
    start: TimePoint | None = None
    end: TimePoint | None = None
    episode_id: str | None = Field(default=None, max_length=128)
    speaker_key: str | None = Field(default=None, max_length=256)
    correction: int | None = Field(default=None, ge=0)
    """The rename's index in the episode's ``diarization/<id>.corrections.json``."""
    author: str | None = Field(default=None, max_length=128)
    segments: list[tuple[TimePoint, TimePoint]] | None = Field(default=None, max_length=10_000)


class VoiceprintEntry(Contract):
    """One reference voice of a podcast's registry."""

    schema_version: int = SCHEMA_VERSION
    voiceprint_id: VoiceprintId
    podcast_id: PodcastId
    display_name: str
    model: str = Field(min_length=1, max_length=100)
    embedding: list[float] | None = None
    """The local embedding (unit length): 192 floats for ``campplus-cn-en-common``, 256 for ``resemblyzer-ge2e``."""
    voiceprint: str | None = Field(default=None, max_length=20_000)
    """The pyannoteAI voiceprint (base64) for ``pyannoteai-*``."""
    source: VoiceprintSource
    speech_seconds: Seconds | None = None
    created_at: str
    migrated_from: str | None = Field(default=None, max_length=100)
    """The model this entry was re-embedded from by ``voiceprints migrate`` (None: enrolled with ``model``)."""

    @field_validator("display_name")
    @classmethod
    def _display_name(cls, value: str) -> str:
        return check_display_name(value)

    @model_validator(mode="after")
    def _one_reference(self) -> VoiceprintEntry:
        if (self.embedding is None) == (self.voiceprint is None):
            raise ValueError("an entry holds exactly one of embedding (local model) or voiceprint (pyannoteAI)")
        if self.embedding is not None:
            if not self.embedding or not all(math.isfinite(x) for x in self.embedding):
                raise ValueError("embedding must be a non-empty list of finite numbers")
            if self.model.startswith(PYANNOTE_VOICEPRINT_PREFIX):
                raise ValueError(f"model {self.model} takes a voiceprint string, not an embedding")
            size = EMBEDDING_SIZES.get(self.model)
            if size is not None and len(self.embedding) != size:
                raise ValueError(f"a {self.model} embedding has {size} numbers, this one {len(self.embedding)}")
        if self.voiceprint is not None and not self.model.startswith(PYANNOTE_VOICEPRINT_PREFIX):
            raise ValueError(f"model {self.model} takes an embedding, not a pyannoteAI voiceprint")
        return self

    @property
    def state(self) -> VoiceprintState:
        """``current``: matched as is; ``outdated``: a previous local model's entry (``voiceprints migrate``)."""
        return "outdated" if self.model == GE2E_VOICEPRINT_MODEL else "current"

    @property
    def person(self) -> str:
        """Entries of one person (several enrolments, several models) share this key: the name, casefolded."""
        return self.display_name.casefold()


class VoiceprintMatch(Contract):
    """pyannoteAI's identification of one diarization speaker (``/v1/identify`` output ``voiceprints[]``).

    Stored in the raw diarization (``voiceprint_matches``) so ``identify-speakers-v1``
    decides from these scores instead of local embeddings.
    """

    speaker: str = Field(min_length=1, max_length=256)
    """The diarization speaker (``SPEAKER_00``)."""
    match: VoiceprintId | None = None
    """The voiceprint id pyannoteAI matched, if any."""
    scores: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)
    """Voiceprint id -> pyannoteAI's confidence, scaled from 0-100 to [0, 1]."""


class IdentifiedSegment(Contract):
    """One turn of pyannoteAI's ``/v1/identify`` ``identification[]``, as stored in the raw diarization.

    pyannoteAI's per-turn answer: which voiceprint (if any) the matching settings gave
    the turn, and how confident it is of the turn's speaker.
    """

    speaker: str = Field(min_length=1, max_length=256)
    """The diarization speaker (pyannoteAI's ``diarizationSpeaker``)."""
    start: TimePoint | None = None
    end: TimePoint | None = None
    match: VoiceprintId | None = None
    """The voiceprint id matched on this turn; null where pyannoteAI matched none."""
    confidence: Probability | None = None
    """pyannoteAI's turn-level confidence for the turn's speaker, scaled from 0-100 to [0, 1]."""

    @model_validator(mode="after")
    def _ordered(self) -> IdentifiedSegment:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self
