"""The export formats by name: what each needs, its file extension and media type."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from diarflow.domain.exports.captions import write_srt, write_vtt
from diarflow.domain.exports.episode import EpisodeExport
from diarflow.domain.exports.rttm import write_rttm
from diarflow.domain.exports.transcripts import write_json, write_md, write_txt
from diarflow.domain.exports.turns import CaptionOptions
from diarflow.errors import InvalidInput

Writer = Callable[[EpisodeExport, CaptionOptions], str]
FormatName = Literal["rttm", "srt", "vtt", "txt", "md", "json"]
"""The name of each format in :data:`FORMATS`, for type checkers (a test keeps the two equal)."""


@dataclass(frozen=True, slots=True)
class ExportFormat:
    """One output format. ``needs_words``: built from the enriched transcript; ``needs_turns``: from the diarization."""

    name: str
    extension: str
    media_type: str
    needs_words: bool
    needs_turns: bool
    write: Writer


FORMATS: Mapping[str, ExportFormat] = MappingProxyType(
    {
        fmt.name: fmt
        for fmt in (
            ExportFormat("rttm", "rttm", "text/plain; charset=utf-8", False, True, write_rttm),
            ExportFormat("srt", "srt", "application/x-subrip; charset=utf-8", True, False, write_srt),
            ExportFormat("vtt", "vtt", "text/vtt; charset=utf-8", True, False, write_vtt),
            ExportFormat("txt", "txt", "text/plain; charset=utf-8", True, False, write_txt),
            ExportFormat("md", "md", "text/markdown; charset=utf-8", True, False, write_md),
            ExportFormat("json", "json", "application/json", True, False, write_json),
        )
    }
)
"""Every format, in the order ``--format all`` writes them."""


def get_format(name: str) -> ExportFormat:
    """The format called ``name``, or an error listing the ones there are."""
    try:
        return FORMATS[name]
    except KeyError:
        raise InvalidInput("format", f"unknown format {name!r}; choose one of {', '.join(FORMATS)}") from None


def render(episode: EpisodeExport, format_name: str, options: CaptionOptions | None = None) -> str:
    """The episode in one format, as text."""
    return get_format(format_name).write(episode, options or CaptionOptions())
