"""Enriched words: the alignment turned into the spec's per-word records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from diarflow.contracts import UNKNOWN_SPEAKER
from diarflow.domain.alignment import Alignment
from diarflow.domain.transcript import Transcript

CONFIDENCE_DECIMALS = 4


def enriched_words(
    transcript: Transcript,
    alignment: Alignment,
    *,
    display_names: Sequence[str],
    diar_speakers: Sequence[str],
    source: str,
) -> list[dict[str, Any]]:
    """One record per transcript word, in transcript order.

    ``display_names[k]`` and ``diar_speakers[k]`` describe alignment speaker ``k``:
    the registry name or canonical label, and the diarizer's own label. Words of a
    multichannel transcript also carry their ``channel`` (the track they were heard on).
    """
    # Index -1 (no speaker) picks the trailing None / UNKNOWN entry.
    shown = np.array([*display_names, None], dtype=object)[alignment.speakers].tolist()
    original = np.array([*diar_speakers, UNKNOWN_SPEAKER], dtype=object)[alignment.speakers].tolist()
    rounded = np.round(np.clip(alignment.confidences, 0.0, 1.0), CONFIDENCE_DECIMALS)
    confidences = [None if c != c else c for c in rounded.tolist()]

    words = [
        {
            "start": start,
            "end": end,
            "word": text,
            "speaker": speaker,
            "speaker_confidence": confidence,
            "diar_speaker": diar,
            "source": source,
        }
        for start, end, text, speaker, confidence, diar in zip(
            transcript.starts.tolist(),
            transcript.ends.tolist(),
            transcript.texts,
            shown,
            confidences,
            original,
            strict=True,
        )
    ]
    if transcript.is_multichannel:
        for word, channel in zip(words, transcript.channels.tolist(), strict=True):
            word["channel"] = channel
    _attach_alternatives(words, alignment, display_names)
    return words


def _attach_alternatives(words: list[dict[str, Any]], alignment: Alignment, display_names: Sequence[str]) -> None:
    if alignment.alt_words.size == 0:
        return
    order = np.lexsort((-alignment.alt_confidences, alignment.alt_words))
    rounded = np.round(alignment.alt_confidences[order], CONFIDENCE_DECIMALS).tolist()
    for word, speaker, confidence in zip(
        alignment.alt_words[order].tolist(), alignment.alt_speakers[order].tolist(), rounded, strict=True
    ):
        words[word].setdefault("alternatives", []).append({"speaker": display_names[speaker], "confidence": confidence})
