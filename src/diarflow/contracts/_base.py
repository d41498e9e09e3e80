"""Shared pydantic configuration for every contract model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from diarflow.contracts.ids import validate_id
from diarflow.errors import InvalidInput

SCHEMA_VERSION = 1
"""Bumped when an artifact's shape changes incompatibly."""

MAX_SECONDS = 48 * 3600
"""The latest time any input may name: 48 hours (172,800 s), past the longest podcast episodes.

Times are bounded where they enter (transcripts, diarizations from every source,
events, voiceprints, command-line options), so that later arithmetic on them
(milliseconds as int64, SRT's hour field) never meets an absurd value such as
``1e306``, which would turn into infinity or ``-9223372036854775808``.
"""

MAX_CHANNELS = 64
"""Tracks in one multichannel response; a podcast has a handful, more is a corrupt (or hostile) document."""


class Contract(BaseModel):
    """A wire-format model: strict about unknown shapes, aliases for camelCase."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    def to_json_dict(self) -> dict[str, object]:
        """The JSON form with the spec's field names (aliases)."""
        return self.model_dump(mode="json", by_alias=True)


ContractT = TypeVar("ContractT", bound=Contract)


def parse_contract(model: type[ContractT], data: object, *, where: str) -> ContractT:
    """Validate decoded JSON against a contract, turning pydantic's first error into one naming the field.

    ``where`` names the document (``event.data``, a storage key); the field
    follows it: ``event.data.podcast_id``, ``diarization/E1.audit.json.clusters.0.label``.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join([where, *(str(part) for part in first["loc"])]) if first["loc"] else where
        raise InvalidInput(path, first["msg"]) from None
    except InvalidInput as exc:  # raised by a validator itself (ids): the same path convention as pydantic's
        raise type(exc)(f"{where}.{exc.field}" if exc.field else where, exc.problem) from None


EpisodeId = Annotated[str, AfterValidator(lambda v: validate_id(v, "episode_id"))]
PodcastId = Annotated[str, AfterValidator(lambda v: validate_id(v, "podcast_id"))]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""A duration; it may add up overlapping turns, so it is not bounded by :data:`MAX_SECONDS`."""
TimePoint = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
"""A moment in the episode (a start, an end): 0 to :data:`MAX_SECONDS`."""
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


def _relative_key(value: str) -> str:
    if "://" in value:
        raise ValueError("must be a storage key relative to the store root, not a URI")
    if value.startswith("/") or any(part in ("", ".", "..") for part in value.split("/")):
        raise ValueError("must be a relative key without empty, '.' or '..' parts")
    return value


StoreKey = Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(_relative_key)]
"""A key relative to the store root (``transcripts/E1/deepgram.json``): never a URI, an absolute path or ``..``."""


def utc_now() -> str:
    """An ISO-8601 UTC timestamp with a ``Z`` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
