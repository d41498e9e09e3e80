"""Readable transcripts by speaker turn: plain text, Markdown and compact JSON.

One turn is a maximal run of words under one speaker (see
:func:`~diarflow.domain.exports.turns.speaker_turns`), stamped with the time
its first word starts: the form people paste into show notes. A turn's words
are joined as their language writes them (:func:`~diarflow.domain.text.join_words`):
``Hello, and welcome.``, but ``這不雞配``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import replace
from typing import Any

import orjson

from diarflow.contracts import SCHEMA_VERSION
from diarflow.domain.exports.episode import EpisodeExport, SpeakerInfo
from diarflow.domain.exports.timestamps import clock_timestamp
from diarflow.domain.exports.turns import CaptionOptions, speaker_turns

# CommonMark gives these meaning inside a paragraph (emphasis, code, links, raw
# HTML, entities, strikethrough); a backslash makes each literal.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>&~|])")


def escape_markdown(text: str) -> str:
    """Backslash-escape the characters Markdown would read as markup."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def write_txt(episode: EpisodeExport, options: CaptionOptions) -> str:
    """One line per turn: ``[00:12:31] Diane: text``."""
    words = episode.require_words("txt")
    return "".join(
        f"[{clock_timestamp(turn.start_ms)}] {turn.speaker}: {turn.text(words)}\n" for turn in speaker_turns(words)
    )


def write_md(episode: EpisodeExport, options: CaptionOptions) -> str:
    """One paragraph per turn: ``**[00:12:31] Diane:** text``, with Markdown escaped."""
    words = episode.require_words("md")
    paragraphs = [
        f"**[{clock_timestamp(turn.start_ms)}] {escape_markdown(turn.speaker)}:** {escape_markdown(turn.text(words))}\n"
        for turn in speaker_turns(words)
    ]
    return "\n".join(paragraphs)


def write_json(episode: EpisodeExport, options: CaptionOptions) -> str:
    """Turn-level JSON: ``{episode_id, source, speakers[], turns[{speaker, start, end, text, confidence}]}``.

    Times are seconds with millisecond precision; ``confidence`` is the mean
    speaker confidence of the turn's words (null when none has one).
    ``speakers`` lists each shown speaker once, by first appearance. In an
    episode whose speakers are per track, every speaker and turn also carries
    ``channel``: the speaker's track (0-based), null for a speaker of no track
    and for a person whose speakers on several tracks were identified as one
    (turns are by person, so such a turn is no single track's).
    """
    words = episode.require_words("json")
    turns = speaker_turns(words)
    by_name = _by_name(episode.speakers.values())
    shown: dict[str, SpeakerInfo] = {}
    for turn in turns:
        if turn.speaker not in shown:
            shown[turn.speaker] = by_name.get(turn.speaker) or SpeakerInfo(turn.speaker, None, False)
    document = {
        "schema_version": SCHEMA_VERSION,
        "episode_id": episode.episode_id,
        "source": episode.source,
        "speakers": [
            {"speaker": name, "label": info.label, "identified": info.identified} for name, info in shown.items()
        ],
        "turns": [
            {
                "speaker": turn.speaker,
                "start": turn.start_ms / 1000,
                "end": turn.end_ms / 1000,
                "text": turn.text(words),
                "confidence": _rounded(turn.confidence(words)),
            }
            for turn in turns
        ],
    }
    _add_channels(document, shown)
    return orjson.dumps(document).decode() + "\n"


def _by_name(speakers: Collection[SpeakerInfo]) -> dict[str, SpeakerInfo]:
    """How each shown name is shown; its track only when every speaker under that name was on that one."""
    tracks: dict[str, set[int | None]] = {}
    for info in speakers:
        tracks.setdefault(info.name, set()).add(info.channel)
    by_name = {info.name: info for info in speakers}
    return {name: info if len(tracks[name]) == 1 else replace(info, channel=None) for name, info in by_name.items()}


def _add_channels(document: dict[str, Any], shown: dict[str, SpeakerInfo]) -> None:
    """Each speaker's and turn's track, when the episode's speakers are per track (else the document is unchanged)."""
    if all(info.channel is None for info in shown.values()):
        return
    for entry in document["speakers"]:
        entry["channel"] = shown[entry["speaker"]].channel
    for turn in document["turns"]:
        turn["channel"] = shown[turn["speaker"]].channel


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
