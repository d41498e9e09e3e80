"""The Deepgram fallback: speaker turns from the transcript's own diarization.

Used when no diarizer is available or the chosen one failed. Turns come from
Deepgram's utterances when present, else from runs of same-speaker words.
"""

from __future__ import annotations

import numpy as np

from diarflow.domain.transcript import Transcript, speaker_runs
from diarflow.domain.turns import Turns
from diarflow.errors import InvalidTranscript

DEFAULT_FALLBACK_CONFIDENCE = 0.8
"""Turn confidence when the transcript's words carry no ``speaker_confidence``."""


def fallback_speaker_name(speaker: int) -> str:
    return f"SPEAKER_{speaker}"


def turns_from_transcript(transcript: Transcript, *, default_confidence: float = DEFAULT_FALLBACK_CONFIDENCE) -> Turns:
    """Turns with speakers ``SPEAKER_<n>``; confidence = mean ``speaker_confidence`` of the turn's words."""
    if not transcript.has_speakers:
        raise InvalidTranscript(
            transcript.words_path,
            "carries no speaker labels, so the Deepgram fallback has nothing to use: "
            "transcribe with diarize=true or choose another diarizer",
        )
    utterances = [u for u in transcript.utterances if u.speaker is not None]
    if utterances:
        starts = np.array([u.start for u in utterances])
        ends = np.array([u.end for u in utterances])
        speakers = [fallback_speaker_name(u.speaker) for u in utterances if u.speaker is not None]
        confidences = _mean_word_confidence(transcript, starts, ends, default_confidence)
        return Turns.from_columns(starts, ends, speakers, confidences)

    labelled = np.flatnonzero(transcript.speakers >= 0)
    order = labelled[np.argsort(transcript.starts[labelled], kind="stable")]
    speaker_of_word = transcript.speakers[order]
    run_starts = speaker_runs(speaker_of_word)
    starts = transcript.starts[order][run_starts]
    ends = np.maximum.reduceat(transcript.ends[order], run_starts)
    names = [fallback_speaker_name(int(s)) for s in speaker_of_word[run_starts]]
    conf = transcript.speaker_confidences[order]
    known = ~np.isnan(conf)
    sums = np.add.reduceat(np.where(known, conf, 0.0), run_starts)
    counts = np.add.reduceat(known.astype(np.int64), run_starts)
    confidences = np.where(counts > 0, sums / np.maximum(counts, 1), default_confidence)
    return Turns.from_columns(starts, ends, names, confidences)


def _mean_word_confidence(transcript: Transcript, starts: np.ndarray, ends: np.ndarray, default: float) -> np.ndarray:
    """Mean word ``speaker_confidence`` inside each [start, end], by prefix sums over words sorted by start."""
    order = np.argsort(transcript.starts, kind="stable")
    word_starts = transcript.starts[order]
    conf = transcript.speaker_confidences[order]
    known = ~np.isnan(conf)
    prefix_sum = np.r_[0.0, np.cumsum(np.where(known, conf, 0.0))]
    prefix_count = np.r_[0, np.cumsum(known)]
    lo = np.searchsorted(word_starts, starts, side="left")
    hi = np.searchsorted(word_starts, ends, side="left")
    counts = prefix_count[hi] - prefix_count[lo]
    sums = prefix_sum[hi] - prefix_sum[lo]
    return np.where(counts > 0, sums / np.maximum(counts, 1), default)
