"""Synthetic Deepgram-shaped episodes for tests, benchmarks and load tests.

Deterministic for a given seed. Speakers alternate in turns of random length;
words fill each turn with small pauses, and utterances follow the turns, so
the Deepgram fallback reproduces the generated turns exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_VOCABULARY = [
    "so",
    "the",
    "thing",
    "is",
    "we",
    "were",
    "talking",
    "about",
    "podcasts",
    "and",
    "how",
    "people",
    "actually",
    "listen",
    "right",
    "yeah",
    "exactly",
    "i",
    "mean",
    "you",
    "know",
    "that's",
    "a",
    "good",
    "point",
    "but",
    "honestly",
    "it",
    "depends",
]


def synthetic_deepgram(
    *,
    num_words: int,
    num_turns: int,
    num_speakers: int,
    seed: int = 0,
    word_seconds: float = 0.3,
    with_speaker_confidence: bool = True,
) -> dict[str, Any]:
    """A ``/v1/listen``-shaped response with ``num_words`` words in ``num_turns`` utterances."""
    if num_turns > num_words:
        raise ValueError("num_turns must not exceed num_words")
    rng = np.random.default_rng(seed)
    cuts: np.ndarray = (
        np.sort(rng.choice(np.arange(1, num_words), size=num_turns - 1, replace=False))
        if num_turns > 1
        else np.empty(0, dtype=int)
    )
    bounds = np.r_[0, cuts, num_words].astype(int)
    speakers = np.empty(num_turns, dtype=int)
    speakers[0] = 0
    for i in range(1, num_turns):  # never the same speaker twice in a row
        speakers[i] = (speakers[i - 1] + 1 + rng.integers(0, max(1, num_speakers - 1))) % num_speakers
    durations = word_seconds * rng.uniform(0.6, 1.4, size=num_words)
    pauses = rng.uniform(0.02, 0.12, size=num_words)
    turn_of_word = np.repeat(np.arange(num_turns), np.diff(bounds))
    turn_gap = np.r_[0, np.diff(turn_of_word)] * 0.4  # a breath between speakers
    starts = np.cumsum(np.r_[0.0, (durations + pauses)[:-1]]) + np.cumsum(turn_gap)
    ends = starts + durations
    starts, ends = np.round(starts, 3), np.round(ends, 3)
    confidences = np.round(rng.uniform(0.55, 0.99, size=num_words), 3)
    vocabulary = np.array(_VOCABULARY)[rng.integers(0, len(_VOCABULARY), size=num_words)]

    words = []
    for i, (start, end, text, turn, conf) in enumerate(
        zip(
            starts.tolist(),
            ends.tolist(),
            vocabulary.tolist(),
            turn_of_word.tolist(),
            confidences.tolist(),
            strict=True,
        )
    ):
        word: dict[str, Any] = {
            "word": text,
            "start": start,
            "end": end,
            "confidence": 0.98,
            "speaker": int(speakers[turn]),
            "punctuated_word": text.capitalize() if i == bounds[turn] else text,
        }
        if with_speaker_confidence:
            word["speaker_confidence"] = conf
        words.append(word)
    utterances = [
        {
            "start": float(starts[bounds[t]]),
            "end": float(ends[bounds[t + 1] - 1]),
            "confidence": 0.98,
            "channel": 0,
            "transcript": " ".join(vocabulary[bounds[t] : bounds[t + 1]].tolist()),
            "speaker": int(speakers[t]),
            "id": f"utt-{t}",
            "words": words[bounds[t] : bounds[t + 1]],
        }
        for t in range(num_turns)
    ]
    return {
        "metadata": {
            "request_id": f"synthetic-{seed}",
            "duration": float(ends[-1]) + 1.0,
            "channels": 1,
            "models": ["synthetic"],
        },
        "results": {
            "channels": [{"alternatives": [{"transcript": "", "confidence": 0.98, "words": words}]}],
            "utterances": utterances,
        },
    }
