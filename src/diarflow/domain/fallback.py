"""The Deepgram fallback: speaker turns from the transcript's own diarization.

Used when no diarizer is available or the chosen one failed. Every word keeps
the speaker Deepgram gave it: a turn is a run of consecutive words of one
speaker on one channel, and an utterance boundary between two words ends a
run too. Utterances inform where turns end; they never overrule a word's own
label (Deepgram's utterances can hold words of another speaker). Only when
the words carry no speaker at all do the utterances' speakers make the turns.

Confidence rule (README, "Confidence"): a turn's confidence is the mean
``speaker_confidence`` of its words, or :data:`DEFAULT_FALLBACK_CONFIDENCE`
when they carry none; and a word attributed to its own Deepgram speaker keeps
Deepgram's ``speaker_confidence`` for it, times its alignment score
(:func:`own_label_confidences`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from diarflow.domain.alignment import Alignment
from diarflow.domain.transcript import Transcript, Utterance
from diarflow.domain.turns import Turns
from diarflow.errors import InvalidTranscript

DEFAULT_FALLBACK_CONFIDENCE = 0.8
"""Turn confidence when the transcript's words carry no ``speaker_confidence``."""
NO_WORDS_WARNING = "the transcript has no words (silent audio?): nothing to attribute, no speaker turns"


def fallback_speaker_name(transcript_speaker: str) -> str:
    """The turn label of a transcript speaker: ``SPEAKER_0``, or ``SPEAKER_ch1.0`` on a multichannel response."""
    return f"SPEAKER_{transcript_speaker}"


def turns_from_transcript(transcript: Transcript, *, default_confidence: float = DEFAULT_FALLBACK_CONFIDENCE) -> Turns:
    """Turns labelled with the transcript's own speakers (:func:`fallback_speaker_name`); none for no words."""
    if len(transcript) == 0:
        return Turns.empty()
    if (transcript.speakers >= 0).any():
        return _word_runs(transcript, default_confidence)
    if any(u.speaker is not None for u in transcript.utterances):
        return _utterance_turns(transcript, default_confidence)
    raise InvalidTranscript(
        transcript.words_path,
        "carries no speaker labels, so the Deepgram fallback has nothing to use: "
        "transcribe with diarize=true or choose another diarizer",
    )


def fallback_speaker_channels(transcript: Transcript, turns: Turns) -> dict[str, int] | None:
    """The channel of each turn speaker of a multichannel transcript (None for one channel).

    Deepgram diarizes each channel apart, so every fallback speaker belongs to one track.
    """
    if not transcript.is_multichannel:
        return None
    labelled = transcript.speakers >= 0
    name_channels = np.full(len(transcript.speaker_names), -1, dtype=np.int64)
    name_channels[transcript.speakers[labelled]] = transcript.channels[labelled]
    channel_of = {
        fallback_speaker_name(name): channel
        for name, channel in zip(transcript.speaker_names, name_channels.tolist(), strict=True)
        if channel >= 0
    }
    for utterance in transcript.utterances:
        if utterance.speaker is not None:
            channel_of.setdefault(_utterance_speaker(transcript, utterance), utterance.channel)
    return {name: channel_of[name] for name in turns.speaker_names if name in channel_of}


def own_turn_speakers(transcript: Transcript, turn_speakers: Sequence[str]) -> NDArray[np.int64]:
    """For each word, the index in ``turn_speakers`` of its own Deepgram speaker's turns (-1: it has none)."""
    position = {name: k for k, name in enumerate(turn_speakers)}
    # Index -1 (a word without a speaker) picks the trailing -1.
    own_turn = np.array([*(position.get(fallback_speaker_name(n), -1) for n in transcript.speaker_names), -1])
    return own_turn[transcript.speakers].astype(np.int64)


def own_label_confidences(
    transcript: Transcript, alignment: Alignment, own_speakers: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Each word's confidence, Deepgram's own where the word is attributed to its own speaker.

    A word on its own speaker's turns (``own_speakers``, from :func:`own_turn_speakers`)
    that carries a ``speaker_confidence`` gets that value times its alignment
    score (1 inside its turn); every other word keeps the alignment's confidence.
    """
    keep_own = (alignment.speakers >= 0) & (alignment.speakers == own_speakers)
    keep_own &= ~np.isnan(transcript.speaker_confidences)
    deepgram_own = np.clip(transcript.speaker_confidences * alignment.scores, 0.0, 1.0)
    return np.where(keep_own, deepgram_own, alignment.confidences)


def _word_runs(transcript: Transcript, default_confidence: float) -> Turns:
    labelled = np.flatnonzero(transcript.speakers >= 0)
    # By channel, then time: a run never crosses tracks, whatever the other tracks say meanwhile.
    order = labelled[np.lexsort((transcript.starts[labelled], transcript.channels[labelled]))]
    speakers = transcript.speakers[order]
    channels = transcript.channels[order]
    utterances = _utterance_of_words(transcript, order)
    boundary = (speakers[1:] != speakers[:-1]) | (channels[1:] != channels[:-1]) | (utterances[1:] != utterances[:-1])
    run_starts = np.flatnonzero(np.r_[True, boundary])

    starts = transcript.starts[order][run_starts]
    ends = np.maximum.reduceat(transcript.ends[order], run_starts)
    names = [fallback_speaker_name(transcript.speaker_names[s]) for s in speakers[run_starts].tolist()]
    conf = transcript.speaker_confidences[order]
    known = ~np.isnan(conf)
    sums = np.add.reduceat(np.where(known, conf, 0.0), run_starts)
    counts = np.add.reduceat(known.astype(np.int64), run_starts)
    return Turns.from_columns(starts, ends, names, _mean_or(sums, counts, default_confidence))


def _utterance_of_words(transcript: Transcript, words: NDArray[np.int64]) -> NDArray[np.int64]:
    """For each of ``words``, the index of the utterance of its channel that holds its start (-1: none)."""
    found = np.full(words.size, -1, dtype=np.int64)
    if not transcript.utterances:
        return found
    u_starts = np.array([u.start for u in transcript.utterances])
    u_ends = np.array([u.end for u in transcript.utterances])
    u_channels = np.array([u.channel for u in transcript.utterances])
    word_starts = transcript.starts[words]
    word_channels = transcript.channels[words]
    for channel in np.unique(word_channels).tolist():
        mine = np.flatnonzero(u_channels == channel)
        if mine.size == 0:
            continue
        mine = mine[np.argsort(u_starts[mine], kind="stable")]
        here = np.flatnonzero(word_channels == channel)
        index = np.searchsorted(u_starts[mine], word_starts[here], side="right") - 1
        safe = np.maximum(index, 0)
        inside = (index >= 0) & (word_starts[here] <= u_ends[mine][safe])
        found[here] = np.where(inside, mine[safe], -1)
    return found


def _utterance_turns(transcript: Transcript, default_confidence: float) -> Turns:
    """Turns from the utterances' speakers, for words that carry none themselves."""
    utterances = [u for u in transcript.utterances if u.speaker is not None]
    starts = np.array([u.start for u in utterances])
    ends = np.array([u.end for u in utterances])
    names = [_utterance_speaker(transcript, u) for u in utterances]
    order = np.argsort(transcript.starts, kind="stable")
    conf = transcript.speaker_confidences[order]
    known = ~np.isnan(conf)
    prefix_sum = np.r_[0.0, np.cumsum(np.where(known, conf, 0.0))]
    prefix_count = np.r_[0, np.cumsum(known)]
    lo = np.searchsorted(transcript.starts[order], starts, side="left")
    hi = np.searchsorted(transcript.starts[order], ends, side="left")
    confidences = _mean_or(prefix_sum[hi] - prefix_sum[lo], prefix_count[hi] - prefix_count[lo], default_confidence)
    return Turns.from_columns(starts, ends, names, confidences)


def _utterance_speaker(transcript: Transcript, utterance: Utterance) -> str:
    """The turn label of an utterance's speaker, named per channel as the words' speakers are."""
    own = f"ch{utterance.channel}.{utterance.speaker}" if transcript.is_multichannel else str(utterance.speaker)
    return fallback_speaker_name(own)


def _mean_or(sums: NDArray[np.float64], counts: NDArray[np.int64], default: float) -> NDArray[np.float64]:
    """``sums / counts`` where counts > 0, else ``default``; within [0, 1] whatever the rounding of the sums."""
    means = np.where(counts > 0, sums / np.maximum(counts, 1), default)
    return np.clip(means, 0.0, 1.0)
