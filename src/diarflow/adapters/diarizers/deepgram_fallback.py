"""The Deepgram fallback as a diarizer: speaker labels already in the transcript."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from diarflow.adapters.diarizers.base import DiarizationJob, DiarizerOutput
from diarflow.domain.fallback import (
    DEFAULT_FALLBACK_CONFIDENCE,
    NO_WORDS_WARNING,
    fallback_speaker_channels,
    turns_from_transcript,
)


@dataclass(frozen=True)
class DeepgramFallbackDiarizer:
    """Turns from Deepgram's utterances (or word speaker runs); needs no audio."""

    default_confidence: float = DEFAULT_FALLBACK_CONFIDENCE
    source: Literal["deepgram_fallback"] = "deepgram_fallback"

    def diarize(self, job: DiarizationJob) -> DiarizerOutput:
        turns = turns_from_transcript(job.transcript, default_confidence=self.default_confidence)
        warnings = (NO_WORDS_WARNING,) if len(job.transcript) == 0 else ()
        channels = fallback_speaker_channels(job.transcript, turns)  # Deepgram diarizes each track apart
        return DiarizerOutput(
            turns=turns,
            model="deepgram",
            warnings=warnings,
            speaker_channels=channels,
            num_channels=job.transcript.num_channels if channels is not None else None,
        )
