"""Synthetic Deepgram ``/v1/listen`` responses, for what no licensed real document shows.

``tests/data/deepgram/`` holds real responses (see its README); these build,
in the same shape, the cases the corpus lacks: multichannel, a language
written without spaces, silent audio, a long episode, ``metadata.tags``, and
a one-speaker call whose ``speaker_confidence`` is almost always 1.0. Every
builder is deterministic.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

Word = dict[str, Any]


def _metadata(duration: float, channels: int, **extra: Any) -> dict[str, Any]:
    return {
        "transaction_key": "deprecated",
        "request_id": "00000000-0000-4000-8000-000000000000",
        "sha256": "0" * 64,
        "created": "2026-12-06T05:00:00.000Z",
        "duration": duration,
        "channels": channels,
        "models": ["30089e05-99d1-4376-b32e-c263170674af"],
        "model_info": {
            "30089e05-99d1-4376-b32e-c263170674af": {
                "name": "general-nova-3",
                "version": "2025-07-31.0",
                "arch": "nova-3",
            }
        },
        **extra,
    }


def _word(text: str, start: float, end: float, speaker: int | None, speaker_confidence: float | None) -> Word:
    word: Word = {
        "word": text.lower().strip(".,?!"),
        "start": round(start, 3),
        "end": round(end, 3),
        "confidence": 0.98,
        "punctuated_word": text,
    }
    if speaker is not None:
        word["speaker"] = speaker
        word["speaker_confidence"] = speaker_confidence
    return word


def _utterance(words: Sequence[Word], channel: int, index: int, joiner: str = " ") -> dict[str, Any]:
    utterance: dict[str, Any] = {
        "start": words[0]["start"],
        "end": words[-1]["end"],
        "confidence": 0.97,
        "channel": channel,
        "transcript": joiner.join(w["punctuated_word"] for w in words),
        "words": [dict(w) for w in words],
        "id": f"{index:08d}-0000-4000-8000-000000000000",
    }
    if "speaker" in words[0]:
        utterance["speaker"] = words[0]["speaker"]
    return utterance


def _channel(words: Sequence[Word], joiner: str = " ", **extra: Any) -> dict[str, Any]:
    transcript = joiner.join(w["punctuated_word"] for w in words)
    return {"alternatives": [{"transcript": transcript, "confidence": 0.97, "words": list(words), **extra}]}


def _sentences(words: Sequence[Word], every: int) -> list[list[Word]]:
    return [list(words[i : i + every]) for i in range(0, len(words), every)]


def multichannel_interview() -> dict[str, Any]:
    """A two-track interview (``multichannel=true&diarize=true``): the host on channel 0, the guest on channel 1.

    Deepgram diarizes each channel on its own, so both people are ``speaker`` 0 of their channel.
    The guest's "mm-hmm" overlaps the host's question (crosstalk), as on real two-track recordings.
    """
    host_lines = [
        (0.4, "Welcome back to the show. Today my guest builds boats by hand."),
        (9.2, "How long does one take?"),
        (16.8, "That is patience. Thanks for coming."),
    ]
    guest_lines = [
        (4.6, "Thanks for having me, it is a pleasure."),
        (9.9, "Mm-hmm."),
        (11.6, "About two years for a small one, longer for the big ones."),
        (20.2, "Anytime."),
    ]
    channels = []
    utterances = []
    for channel, lines in enumerate((host_lines, guest_lines)):
        words: list[Word] = []
        for start, line in lines:
            t = start
            spoken = []
            for text in line.split():
                spoken.append(_word(text, t, t + 0.32, 0, 0.93))
                t += 0.4
            words.extend(spoken)
            utterances.append(_utterance(spoken, channel, len(utterances)))
        channels.append(_channel(words))
    utterances.sort(key=lambda u: (u["start"], u["channel"]))
    return {
        "metadata": _metadata(22.0, 2),
        "results": {"channels": channels, "utterances": utterances},
    }


CHINESE_LINES = [
    (0, "這不雞配的問題，我們今天來談。"),
    (1, "好的，我先說一下背景。"),
    (0, "請說。我用iPhone錄音。"),
]


def chinese_conversation() -> dict[str, Any]:
    """Mandarin (``language=zh-TW``): one word per character, punctuation attached, a Latin word inside."""
    words: list[Word] = []
    utterances = []
    t = 0.5
    for speaker, line in CHINESE_LINES:
        spoken: list[Word] = []
        tokens: list[str] = []
        for char in line:
            if char in "，。" or (char.isascii() and tokens and tokens[-1].isascii()):
                tokens[-1] += char
            else:
                tokens.append(char)
        for token in tokens:
            word = _word(token, t, t + 0.25, speaker, 0.9)
            word["word"] = token.strip("，。")
            spoken.append(word)
            t += 0.3
        t += 0.8
        words.extend(spoken)
        utterances.append(_utterance(spoken, 0, len(utterances), joiner=""))
    channel = _channel(words, joiner="")
    channel["detected_language"] = "zh-TW"
    channel["language_confidence"] = 0.98
    return {"metadata": _metadata(round(t, 3), 1), "results": {"channels": [channel], "utterances": utterances}}


def silent_audio() -> dict[str, Any]:
    """What Deepgram answers for a file with no speech: one channel, no words, no utterances."""
    return {
        "metadata": _metadata(12.5, 1),
        "results": {
            "channels": [{"alternatives": [{"transcript": "", "confidence": 0.0, "words": []}]}],
            "utterances": [],
        },
    }


VOCABULARY = [
    "the",
    "a",
    "podcast",
    "episode",
    "today",
    "we",
    "talk",
    "about",
    "music",
    "history",
    "science",
    "people",
    "really",
    "think",
    "know",
    "going",
    "because",
    "actually",
    "something",
    "interesting",
    "story",
    "question",
    "answer",
    "time",
    "years",
    "world",
    "work",
    "life",
]


def long_episode(num_words: int = 6_000, num_speakers: int = 3, seed: int = 7) -> dict[str, Any]:
    """A long diarized episode with utterances and per-word speaker confidences varying by turn."""
    rng = random.Random(seed)
    words: list[Word] = []
    utterances = []
    t = 0.3
    speaker = 0
    while len(words) < num_words:
        length = min(rng.randint(4, 40), num_words - len(words))
        confidence = round(rng.uniform(0.4, 0.99), 3)
        spoken = []
        for i in range(length):
            text = rng.choice(VOCABULARY)
            spoken.append(
                _word(
                    text.capitalize() if i == 0 else text + ("." if i == length - 1 else ""),
                    t,
                    t + 0.28,
                    speaker,
                    confidence,
                )
            )
            t += 0.34
        words.extend(spoken)
        utterances.append(_utterance(spoken, 0, len(utterances)))
        t += rng.uniform(0.2, 1.5)
        speaker = rng.choice([s for s in range(num_speakers) if s != speaker])
    return {
        "metadata": _metadata(round(t + 1, 3), 1),
        "results": {"channels": [_channel(words)], "utterances": utterances},
    }


def tagged_call() -> dict[str, Any]:
    """A short diarized call with ``metadata.tags`` and ``extra``, ``paragraphs`` and a summary: none of it read."""
    document = long_episode(num_words=40, num_speakers=2, seed=3)
    document["metadata"]["tags"] = ["support", "priority:high"]
    document["metadata"]["extra"] = {"customer_id": "C-1001"}
    document["results"]["summary"] = {"result": "success", "short": "A support call."}
    alternative = document["results"]["channels"][0]["alternatives"][0]
    alternative["paragraphs"] = {"transcript": alternative["transcript"], "paragraphs": []}
    return document


def call_centre_one_speaker(num_words: int = 400) -> dict[str, Any]:
    """One agent, utterances, ``speaker_confidence`` 1.0 on almost every word (real call-centre responses look so).

    The mean of many 1.0s computed as a difference of running sums can land a hair above 1.
    """
    rng = random.Random(11)
    words: list[Word] = []
    utterances = []
    t = 0.2
    while len(words) < num_words:
        length = min(rng.randint(3, 25), num_words - len(words))
        spoken = []
        for _ in range(length):
            confidence = 1.0 if rng.random() < 0.97 else round(rng.uniform(0.6, 0.99), 3)
            spoken.append(_word(rng.choice(VOCABULARY), t, t + 0.3, 0, confidence))
            t += 0.37
        words.extend(spoken)
        utterances.append(_utterance(spoken, 0, len(utterances)))
        t += 0.9
    return {"metadata": _metadata(round(t, 3), 1), "results": {"channels": [_channel(words)], "utterances": utterances}}


SYNTHETIC = {
    "synthetic-multichannel-interview": multichannel_interview,
    "synthetic-chinese-conversation": chinese_conversation,
    "synthetic-silent-audio": silent_audio,
    "synthetic-long-episode": long_episode,
    "synthetic-tagged-call": tagged_call,
    "synthetic-call-centre-one-speaker": call_centre_one_speaker,
}
"""Builders by the name the corpus test reports them under."""
