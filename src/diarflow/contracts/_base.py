"""Shared pydantic configuration for every contract model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from diarflow.contracts.ids import validate_id

SCHEMA_VERSION = 1
"""Bumped when an artifact's shape changes incompatibly."""


class Contract(BaseModel):
    """A wire-format model: strict about unknown shapes, aliases for camelCase."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    def to_json_dict(self) -> dict[str, object]:
        """The JSON form with the spec's field names (aliases)."""
        return self.model_dump(mode="json", by_alias=True)


EpisodeId = Annotated[str, AfterValidator(lambda v: validate_id(v, "episode_id"))]
PodcastId = Annotated[str, AfterValidator(lambda v: validate_id(v, "podcast_id"))]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


def utc_now() -> str:
    """An ISO-8601 UTC timestamp with a ``Z`` suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
