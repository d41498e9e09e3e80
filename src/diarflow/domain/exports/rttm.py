"""RTTM: the diarization turns as NIST Rich Transcription Time Marked lines.

The format pyannote.metrics, pyannote.database and dscore read, one turn a line::

    SPEAKER <episode_id> <channel> <start> <duration> <NA> <NA> <speaker> <NA> <NA>

Fields are whitespace-separated, so a speaker name is made RTTM-safe by
joining its words with ``_`` (``Diane Rehm`` → ``Diane_Rehm``). Times have
exactly three decimals. A turn that lasts 0 ms once rounded is left out: it
holds no speech and some scorers reject a zero duration. The channel is 1,
or, for a speaker recorded on one track of a multichannel episode, that
track's number counted from 1 (RTTM's convention; Deepgram's channel 0 is 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from diarflow.domain.exports.episode import EpisodeExport, clean_text
from diarflow.domain.exports.timestamps import decimal_seconds
from diarflow.domain.exports.turns import CaptionOptions
from diarflow.domain.turns import Turns


def rttm_name(name: str) -> str:
    """``name`` with each whitespace run replaced by ``_`` and control characters dropped (empty stays empty)."""
    return clean_text(name).replace(" ", "_")


def write_rttm(episode: EpisodeExport, options: CaptionOptions) -> str:
    """One ``SPEAKER`` line per diarization turn, in time order.

    The speaker is the display name when the cluster was identified, else its
    canonical label, else (a speaker neither artifact names) the diarizer's
    own label.
    """
    turns = episode.require_turns("rttm")
    names = []
    channels = []
    for raw in turns.speaker_names:
        shown = episode.speakers.get(raw)
        names.append(rttm_name(shown.name if shown else "") or rttm_name(raw))
        channels.append(shown.channel if shown and shown.channel is not None else 0)
    return rttm_lines(turns, episode.episode_id, names, channels)


def rttm_lines(turns: Turns, file_id: str, names: Sequence[str], channels: Sequence[int] | None = None) -> str:
    """``turns`` as RTTM lines of ``file_id``: ``names[k]`` and 0-based ``channels[k]`` (default 0) per speaker.

    Times are rounded to whole milliseconds first, so start + duration is the end exactly.
    """
    tracks = channels if channels is not None else [0] * len(names)
    prefixes = [f"SPEAKER {file_id} {channel + 1}" for channel in tracks]
    starts_ms = np.rint(turns.starts * 1000).astype(np.int64).tolist()
    ends_ms = np.rint(turns.ends * 1000).astype(np.int64).tolist()
    return "".join(
        f"{prefixes[speaker]} {decimal_seconds(start)} {decimal_seconds(end - start)} <NA> <NA> {names[speaker]} "
        "<NA> <NA>\n"
        for start, end, speaker in zip(starts_ms, ends_ms, turns.speakers.tolist(), strict=True)
        if end > start
    )
