"""Exports: the enriched transcript and diarization in standard formats.

RTTM for diarization scorers, SRT and WebVTT captions, plain-text and Markdown
transcripts for show notes, and a compact turn-level JSON. Pure functions from
decoded artifacts to text; reading and writing the store is the caller's job.

>>> episode = EpisodeExport.from_artifacts("E1", enriched=enriched_dict, diarization=diarization_dict)
>>> render(episode, "srt", CaptionOptions(max_line_chars=32))  # doctest: +SKIP
"""

from diarflow.domain.exports.episode import UNKNOWN_SPEAKER_NAME, EpisodeExport, ExportWords, SpeakerInfo
from diarflow.domain.exports.formats import FORMATS, ExportFormat, get_format, render
from diarflow.domain.exports.turns import CaptionOptions, Cue, SpeakerTurn, caption_cues, speaker_turns

__all__ = [
    "FORMATS",
    "UNKNOWN_SPEAKER_NAME",
    "CaptionOptions",
    "Cue",
    "EpisodeExport",
    "ExportFormat",
    "ExportWords",
    "SpeakerInfo",
    "SpeakerTurn",
    "caption_cues",
    "get_format",
    "render",
    "speaker_turns",
]
