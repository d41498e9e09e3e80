"""Captions: SubRip (``.srt``) and WebVTT (``.vtt``), each cue opened by its speaker.

SRT has no voice markup, so the speaker is visible text (``Diane: …``) and
counts towards the first line's width, in display columns as the text does.
WebVTT names the speaker in a voice span (``<v Diane>…``) that players style
rather than print.

SRT has no escaping either: text is written as spoken. WebVTT parses ``<`` as
a tag and ``&`` as a character reference, so both, and ``>`` (which would
also let ``-->`` appear in a cue), are written as ``&lt;`` ``&amp;`` ``&gt;``
in the text and in the voice name.
"""

from __future__ import annotations

from diarflow.domain.exports.episode import EpisodeExport
from diarflow.domain.exports.timestamps import srt_timestamp, vtt_timestamp
from diarflow.domain.exports.turns import CaptionOptions, caption_cues
from diarflow.domain.text import display_width

SRT_SPEAKER_SEPARATOR = ": "
_NEWLINE = "\n"  # f-string expressions may not hold a backslash before Python 3.12


def escape_vtt(text: str) -> str:
    """Escape text for a WebVTT cue payload or voice annotation."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_srt(episode: EpisodeExport, options: CaptionOptions) -> str:
    """Numbered SRT cues: ``HH:MM:SS,mmm`` times, ``Speaker: `` before the first line."""
    words = episode.require_words("srt")
    cues = caption_cues(words, options, lambda speaker: display_width(speaker) + len(SRT_SPEAKER_SEPARATOR))
    blocks = [
        f"{number}\n{srt_timestamp(cue.start_ms)} --> {srt_timestamp(cue.end_ms)}\n"
        f"{cue.speaker}{SRT_SPEAKER_SEPARATOR}{_NEWLINE.join(cue.lines)}\n"
        for number, cue in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def write_vtt(episode: EpisodeExport, options: CaptionOptions) -> str:
    """A WebVTT file: ``HH:MM:SS.mmm`` times, each cue in a ``<v Speaker>`` voice span."""
    words = episode.require_words("vtt")
    cues = caption_cues(words, options)
    voices = {speaker: f"<v {escape_vtt(speaker)}>" for speaker in set(words.speakers)}
    blocks = [
        f"{vtt_timestamp(cue.start_ms)} --> {vtt_timestamp(cue.end_ms)}\n"
        f"{voices[cue.speaker]}{escape_vtt(_NEWLINE.join(cue.lines))}\n"
        for cue in cues
    ]
    return "\n".join(["WEBVTT\n", *blocks])
