"""Diarization by track: each channel of a multichannel recording is one speaker.

A podcast recorded with a microphone per person, transcribed with Deepgram's
``multichannel=true``, already says who spoke each word: the track it was
heard on. The ``channels`` diarizer turns that into turns, with no model:

* **from the words** (always): a channel's speech is its own words, joined into
  one turn wherever the pause between two consecutive words of that channel is
  at most :data:`MAX_WORD_GAP`;
* **from the audio** (when the multitrack file is given): plus the speech the
  voice-activity detector hears on that track, except where another track is
  much louder (:data:`BLEED_MARGIN_DB`): that is the other person's voice
  leaking into this microphone (bleed), not this person speaking.

Every word stays inside its own channel's speech, so enrichment keeps each
word on its own track's speaker, crosstalk included. Pure numpy on columns;
the audio is decoded and scored by the adapter
(:mod:`diarflow.adapters.diarizers.channels`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from diarflow.domain.frames import interval_mask, run_edges
from diarflow.domain.intervals import merge_intervals
from diarflow.domain.transcript import Transcript
from diarflow.domain.turns import Turns

FloatArray = NDArray[np.float64]

MAX_WORD_GAP = 0.5
"""Seconds: a pause between two words of one channel up to this long stays inside one turn.

Measured on the two-track sample (``benchmarks/bench_channels_diarizer.py``, DER
at collar 0 against its reference): from the words alone 11.3 % anywhere from
0.3 to 0.8 s, 12.3 % at 0.2 s (turns cut at every breath: missed speech), 12.7 %
at 1 s and 16.0 % at 1.5 s (turns run over real pauses: false alarm). With the
audio the same gap helps too: on 5-minute two-track episodes re-cut from the same
sample (the same two voices, so not an independent check), 1.7–3.1 %
against 5.0–5.7 % when only touching words are joined, because the VAD splits
at every 0.1 s pause the annotators bridge. Deepgram's utterances split at 0.8 s.
"""
BLEED_MARGIN_DB = 10.0
"""dB: a track's voice activity is bleed where another track is at least this much louder.

Levels are compared after each track is normalised to its own speech level (the
median level of the frames under its own words), so a quieter microphone is not
mistaken for bleed. silero-vad hears bleed even 30 dB down (on the two-track
sample, 4.9 % false alarm at −30 dB, 39.6 % at −25 dB, 71.4 % at −20 dB when nothing
removes it); with this margin the DER stays 2.4–3.4 % for bleed from −30 to
−15 dB. Bleed closer than the margin (−10 dB: two open microphones in a small
room) is not told apart: diarize such tracks from their words (no audio).
Podcast microphones bleed 15–30 dB down; two people talking over each other stay
within a few dB of their own levels, so crosstalk is kept.
"""
MIN_HEARD_SPEECH = 0.2
"""Seconds: shorter stretches heard on a track are dropped (clicks, breaths at a cut); its words are always kept."""
CHANNEL_TURN_CONFIDENCE = 1.0
"""Confidence of a channel turn: the track says who speaks (README, "Confidence")."""


def channel_speaker_name(channel: int) -> str:
    """The diarization speaker of a channel: ``CHANNEL_0``, ``CHANNEL_1``, …"""
    return f"CHANNEL_{channel}"


def word_speech(transcript: Transcript, *, max_gap: float = MAX_WORD_GAP) -> list[FloatArray]:
    """Each channel's words joined into (n, 2) [start, end] stretches where pauses are at most ``max_gap``."""
    speech = []
    for channel in range(transcript.num_channels):
        mine = transcript.channels == channel
        speech.append(merge_intervals(transcript.starts[mine], transcript.ends[mine], max_gap=max_gap))
    return speech


def heard_speech(
    vad_speech: Sequence[FloatArray],
    levels_db: NDArray[np.floating],
    words: Sequence[FloatArray],
    *,
    frame_seconds: float,
    bleed_margin_db: float = BLEED_MARGIN_DB,
    min_heard: float = MIN_HEARD_SPEECH,
) -> list[FloatArray]:
    """Each track's speech from its voice activity and its words, without the other tracks' bleed.

    ``vad_speech[c]``: (n, 2) speech regions the VAD heard on track ``c``;
    ``levels_db``: (tracks, frames) level of each ``frame_seconds`` frame;
    ``words[c]``: track ``c``'s words as stretches (:func:`word_speech`).
    A VAD frame of track ``c`` is kept unless some other track, both normalised
    to their own speech level, is ``bleed_margin_db`` louder there. The words
    are always speech of their own track. O(tracks² × frames), no per-frame loop.
    """
    tracks, frames = levels_db.shape
    levels = np.asarray(levels_db, dtype=np.float64)
    vad = np.stack([frame_mask(regions, frames, frame_seconds) for regions in vad_speech])
    own_words = np.stack([frame_mask(regions, frames, frame_seconds) for regions in words])
    normalised = levels - _own_levels(levels, vad, own_words)[:, np.newaxis]
    speech = []
    for track in range(tracks):
        others = np.delete(normalised, track, axis=0)
        loudest_other = others.max(axis=0) if others.size else np.full(frames, -np.inf)
        bleed = loudest_other - normalised[track] >= bleed_margin_db
        heard = mask_intervals(vad[track] & ~bleed, frame_seconds)
        heard = heard[heard[:, 1] - heard[:, 0] >= min_heard]
        both = np.concatenate((heard, words[track]))
        speech.append(merge_intervals(both[:, 0], both[:, 1]))
    return speech


def _own_levels(levels: FloatArray, vad: NDArray[np.bool_], own_words: NDArray[np.bool_]) -> FloatArray:
    """Each track's speech level (dB): the median over its own words where the VAD agrees, else what there is."""
    out = np.zeros(levels.shape[0])
    for track in range(levels.shape[0]):
        for where in (own_words[track] & vad[track], own_words[track], vad[track]):
            if where.any():
                out[track] = float(np.median(levels[track][where]))
                break
    return out


def channel_turns(speech: Sequence[FloatArray]) -> Turns:
    """One speaker per channel (:func:`channel_speaker_name`), a turn per stretch of its speech."""
    starts = np.concatenate([regions[:, 0] for regions in speech]) if speech else np.zeros(0)
    ends = np.concatenate([regions[:, 1] for regions in speech]) if speech else np.zeros(0)
    names = [channel_speaker_name(c) for c, regions in enumerate(speech) for _ in range(len(regions))]
    return Turns.from_columns(starts, ends, names, np.full(starts.size, CHANNEL_TURN_CONFIDENCE))


def speaker_channels(turns: Turns, num_channels: int) -> dict[str, int]:
    """The channel of each speaker of ``turns`` (a channel without speech has no speaker)."""
    present = set(turns.speaker_names)
    return {channel_speaker_name(c): c for c in range(num_channels) if channel_speaker_name(c) in present}


def own_channel_speakers(
    transcript: Transcript, turn_speakers: Sequence[str], channels: dict[str, int]
) -> NDArray[np.int64]:
    """For each word, the index in ``turn_speakers`` of its own channel's speaker (-1: that channel has none)."""
    position = np.full(transcript.num_channels + 1, -1, dtype=np.int64)  # the extra entry: a channel out of range
    for index, name in enumerate(turn_speakers):
        channel = channels.get(name)
        if channel is not None and 0 <= channel < transcript.num_channels:
            position[channel] = index
    return position[np.minimum(transcript.channels, transcript.num_channels)]


# --- frames and intervals -------------------------------------------------------------------------


def frame_mask(regions: FloatArray, frames: int, frame_seconds: float) -> NDArray[np.bool_]:
    """Frames (of ``frame_seconds``) that any (n, 2) region touches; a zero-length word still marks its frame."""
    if not len(regions):
        return np.zeros(frames, dtype=np.bool_)
    return interval_mask(regions[:, 0], regions[:, 1], frames, frame_seconds, tolerance=1e-9, mark_empty=True)


def mask_intervals(mask: NDArray[np.bool_], frame_seconds: float) -> FloatArray:
    """Runs of True frames as (n, 2) [start, end] seconds."""
    first, after = run_edges(mask)
    return np.stack((first, after), axis=1).astype(np.float64) * frame_seconds
