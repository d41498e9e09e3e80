"""Artifacts for the report tests and benchmark: the sample conversation and a long synthetic episode.

Both produce the four artifacts a run leaves (enriched transcript, raw
diarization, audit, optionally an error) as plain JSON dicts, shaped like the
contracts, so the report is tested on what the pipeline writes without
running the pipeline.
"""

from __future__ import annotations

import io
import math
import random
import re
import wave
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
import orjson

from diarflow.contracts import AuditArtifact, EnrichedTranscript, ErrorArtifact, RawDiarization

CREATED_AT = "2026-11-29T12:00:00.000Z"

# (speaker, start, end, text) from the sample's STM, with one word that must render as text.
_SAMPLE_LINES = [
    ("SPEAKER_0", 6.68, 7.16, "Hello?"),
    ("SPEAKER_1", 7.634, 8.155, "Hello?"),
    ("SPEAKER_0", 8.436, 8.876, "Oh, hello."),
    ("SPEAKER_0", 8.916, 9.798, "I didn't know you were there."),
    ("SPEAKER_1", 9.838, 10.78, "Neither did I."),
    ("SPEAKER_0", 10.78, 12.54, "Okay, then I thought you know, I heard a beep."),
    ("SPEAKER_0", 12.542, 14.184, "This is Diane in New Jersey."),
    ("SPEAKER_1", 14.444, 17.769, "And I'm Sheila in Texas, <script>window.__xss=1</script> originally from Chicago."),
    ("SPEAKER_0", 17.789, 20.113, "Oh, I'm originally from Chicago also."),
    ("SPEAKER_0", 20.173, 21.475, "I'm in New Jersey now though."),
    ("SPEAKER_1", 21.935, 23.978, "Well, there isn't that much difference."),
    ("SPEAKER_1", 24.058, 28.425, "At least you know, they all call me a Yankee down here, so what can I say?"),
    ("SPEAKER_0", 28.445, 29.987, "Oh, I don't hear that in New Jersey now."),
]
SCRIPT_WORD = "<script>window.__xss=1</script>"


@dataclass
class EpisodeArtifacts:
    """The artifacts of one run, as the store holds them."""

    episode_id: str
    enriched: dict[str, Any] | None
    diarization: dict[str, Any] | None
    audit: dict[str, Any] | None
    error: dict[str, Any] | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    """Facts the tests check against (expected talk times, special word indices)."""


def sample_episode(episode_id: str = "SAMPLE1") -> EpisodeArtifacts:
    """The 30-second sample conversation: Diane (identified) and an unidentified second speaker.

    Word 0 carries alternatives, the words of the line at 14.4 s are low
    confidence, one word lies outside every turn (unattributed), and the
    line at 14.4 s contains a ``<script>`` word that must render as text.
    """
    speakers: list[dict[str, Any]] = [
        {"diar_speaker": "SPEAKER_0", "label": "A", "speaker": "Diane", "identified": True},
        {"diar_speaker": "SPEAKER_1", "label": "B", "speaker": "B", "identified": False},
    ]
    display: dict[str, str] = {entry["diar_speaker"]: entry["speaker"] for entry in speakers}
    other = {"SPEAKER_0": "B", "SPEAKER_1": "Diane"}
    words: list[dict[str, Any]] = []
    segments: list[dict[str, Any]] = []
    for diar_speaker, start, end, text in _SAMPLE_LINES:
        tokens = text.split(" ")
        step = (end - start) / len(tokens)
        low = start == 14.444
        for index, token in enumerate(tokens):
            word: dict[str, Any] = {
                "start": round(start + index * step, 3),
                "end": round(start + (index + 1) * step, 3),
                "word": token,
                "speaker": display[diar_speaker],
                "speaker_confidence": 0.42 if low else 0.93,
                "diar_speaker": diar_speaker,
                "source": "pyannote",
            }
            if low:
                word["alternatives"] = [{"speaker": other[diar_speaker], "confidence": 0.38}]
            words.append(word)
        segments.append({"start": start, "end": end, "speaker": diar_speaker, "confidence": 0.9})
    words[0]["alternatives"] = [{"speaker": "B", "confidence": 0.85}]
    words.append(
        {
            "start": 30.4,
            "end": 30.9,
            "word": "Bye.",
            "speaker": None,
            "speaker_confidence": None,
            "diar_speaker": "UNKNOWN",
            "source": "pyannote",
        }
    )
    enriched = _enriched(episode_id, speakers, words)
    diarization = _diarization(episode_id, "job-123", segments)
    talk = {"Diane": 0.0, "B": 0.0}
    turns = {"Diane": 0, "B": 0}
    for diar_speaker, start, end, _ in _SAMPLE_LINES:
        talk[display[diar_speaker]] += end - start  # the sample's lines never overlap
        turns[display[diar_speaker]] += 1
    audit = _audit(
        episode_id,
        "pyannote",
        [
            ("SPEAKER_0", "A", talk["Diane"], turns["Diane"], "Diane", 0.91, (12.542, 14.184)),
            ("SPEAKER_1", "B", talk["B"], turns["B"], None, None, (24.058, 28.425)),
        ],
        near_misses=[
            {
                "clusterKey": "SPEAKER_1",
                "confidence": 0.71,
                "threshold": 0.75,
                "referenceId": "vp-sheila",
                "displayName": "Sheila",
            }
        ],
    )
    script_index = next(i for i, w in enumerate(words) if w["word"] == SCRIPT_WORD)
    low_index = next(i for i, w in enumerate(words) if w["speaker_confidence"] == 0.42)
    return EpisodeArtifacts(
        episode_id,
        enriched,
        diarization,
        audit,
        notes={"talk": talk, "script_word": script_index, "low_word": low_index, "first_b_turn": 1},
    )


# (speaker, start, end, words) of a short Chinese conversation, the words as Deepgram writes them: whole words
# with their punctuation, and a number spelled out digit by digit (its base model's way).
_CHINESE_LINES = [
    ("SPEAKER_0", 0.5, 2.6, ["這", "不", "是", "雞排，", "你", "知道", "嗎？"]),
    ("SPEAKER_1", 3.0, 5.7, ["我們", "用", "iPhone", "錄", "了", "3", "0", "0", "集。"]),
    ("SPEAKER_0", 6.0, 6.8, ["真的", "嗎？"]),
]
CHINESE_TEXT = "這不是雞排，你知道嗎？我們用iPhone錄了300集。真的嗎？"
"""The conversation as it is written: no space between Chinese words, nor around the Latin ones."""


def chinese_episode(episode_id: str = "ZH1") -> EpisodeArtifacts:
    """A three-turn Chinese conversation between two identified speakers, without audit."""
    speakers = [
        {"diar_speaker": "SPEAKER_0", "label": "A", "speaker": "主持人", "identified": True},
        {"diar_speaker": "SPEAKER_1", "label": "B", "speaker": "來賓", "identified": True},
    ]
    display = {entry["diar_speaker"]: entry["speaker"] for entry in speakers}
    words: list[dict[str, Any]] = []
    for diar_speaker, start, end, tokens in _CHINESE_LINES:
        step = (end - start) / len(tokens)
        words.extend(
            {
                "start": round(start + index * step, 3),
                "end": round(start + (index + 1) * step, 3),
                "word": token,
                "speaker": display[diar_speaker],
                "speaker_confidence": 0.9,
                "diar_speaker": diar_speaker,
                "source": "pyannote",
            }
            for index, token in enumerate(tokens)
        )
    segments = [
        {"start": start, "end": end, "speaker": diar_speaker, "confidence": 0.9}
        for diar_speaker, start, end, _ in _CHINESE_LINES
    ]
    return EpisodeArtifacts(
        episode_id, _enriched(episode_id, speakers, words), _diarization(episode_id, "job-zh", segments), None
    )


def failed_error(episode_id: str, status: str = "failed") -> dict[str, Any]:
    """An error artifact with one failure whose message carries markup."""
    return ErrorArtifact.model_validate(
        {
            "schema_version": 1,
            "episode_id": episode_id,
            "status": status,
            "errors": [
                {
                    "step": "pyannote-collect-v1",
                    "type": "RemoteServiceUnavailable",
                    "message": "pyannoteAI answered 503 <b>Service Unavailable</b>",
                    "retryable": True,
                    "attempt": 3,
                    "occurred_at": CREATED_AT,
                }
            ],
        }
    ).to_json_dict()


def long_episode(
    episode_id: str = "LONG1",
    *,
    num_words: int = 80_000,
    num_turns: int = 4_000,
    num_speakers: int = 5,
    hours: float = 6.7,
    seed: int = 7,
) -> EpisodeArtifacts:
    """A synthetic episode of ``hours`` with ``num_turns`` turns and ``num_words`` words.

    Turn lengths vary (a few long monologues, many short exchanges), words
    fill each turn with natural pauses, ~3% of words are low confidence with
    alternatives near turn edges, and a few words fall in gaps (unattributed).
    """
    rng = np.random.default_rng(seed)
    text_rng = random.Random(seed)
    total = hours * 3600
    weights = rng.gamma(0.8, 1.0, num_turns)
    speech = total * 0.93
    durations = weights / weights.sum() * speech
    gaps = rng.uniform(0.05, 1.0, num_turns)
    gaps *= (total - speech) / gaps.sum()
    starts = np.cumsum(np.r_[0.0, (durations + gaps)[:-1]])
    ends = starts + durations
    speakers = _speaker_sequence(rng, num_turns, num_speakers)
    words_per_turn = np.maximum(1, np.round(durations / durations.sum() * num_words)).astype(int)
    words_per_turn[np.argmax(words_per_turn)] += num_words - int(words_per_turn.sum())

    names = ["Diane", "Sheila", "Marcus", "Priya", "Tomás", "Ana", "Wei", "Olu"]
    entries: list[dict[str, Any]] = [
        {
            "diar_speaker": f"SPEAKER_{k}",
            "label": chr(ord("A") + k),
            "speaker": names[k] if k < num_speakers - 1 else chr(ord("A") + k),
            "identified": k < num_speakers - 1,
        }
        for k in range(num_speakers)
    ]
    words: list[dict[str, Any]] = []
    segments: list[dict[str, Any]] = []
    for turn in range(num_turns):
        speaker = int(speakers[turn])
        start, end, count = float(starts[turn]), float(ends[turn]), int(words_per_turn[turn])
        segments.append(
            {"start": round(start, 3), "end": round(end, 3), "speaker": f"SPEAKER_{speaker}", "confidence": 0.95}
        )
        step = (end - start) / count
        sentence = text_rng.randint(6, 18)
        for index in range(count):
            word_start = start + index * step
            edge = index == 0 or index == count - 1
            uncertain = edge and text_rng.random() < 0.35
            token = text_rng.choice(_VOCABULARY)
            sentence -= 1
            if sentence == 0 or index == count - 1:
                token += text_rng.choice(".?.")
                sentence = text_rng.randint(6, 18)
            elif text_rng.random() < 0.07:
                token += ","
            word: dict[str, Any] = {
                "start": round(word_start, 3),
                "end": round(word_start + step * 0.85, 3),
                "word": token,
                "speaker": entries[speaker]["speaker"],
                "speaker_confidence": round(0.45 if uncertain else 0.9 + 0.09 * text_rng.random(), 3),
                "diar_speaker": f"SPEAKER_{speaker}",
                "source": "pyannote",
            }
            if uncertain:
                neighbour = int(speakers[turn - 1] if index == 0 and turn else speakers[min(turn + 1, num_turns - 1)])
                word["alternatives"] = [{"speaker": entries[neighbour]["speaker"], "confidence": 0.41}]
            words.append(word)
    for index in range(0, len(words), 9973):  # a few words no turn covers
        words[index] |= {"speaker": None, "speaker_confidence": None, "diar_speaker": "UNKNOWN"}
        words[index].pop("alternatives", None)

    enriched = _enriched(episode_id, entries, words)
    diarization = _diarization(episode_id, "job-long", segments)
    clusters = []
    for k, entry in enumerate(entries):
        own = [s for s in segments if s["speaker"] == entry["diar_speaker"]]
        longest = max(own, key=lambda s: s["end"] - s["start"])
        clusters.append(
            (
                entry["diar_speaker"],
                entry["label"],
                sum(s["end"] - s["start"] for s in own),
                len(own),
                entry["speaker"] if entry["identified"] else None,
                round(0.8 + 0.03 * k, 2) if entry["identified"] else None,
                (longest["start"], min(longest["end"], longest["start"] + 10)),
            )
        )
    audit = _audit(episode_id, "pyannote", clusters, near_misses=[])
    return EpisodeArtifacts(episode_id, enriched, diarization, audit)


def wav_bytes(seconds: float, *, rate: int = 8000, frequency: float = 220.0) -> bytes:
    """A quiet mono 16-bit sine tone: real, playable audio of a known length."""
    frames = int(seconds * rate)
    samples = (np.sin(2 * math.pi * frequency * np.arange(frames) / rate) * 3000).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def sample_wav() -> bytes:
    """The sample episode's audio (30 s, the conversation the sample artifacts describe)."""
    return resources.files("diarflow.samples").joinpath("sample.wav").read_bytes()


def page_data(page: str) -> dict[str, Any]:
    """The JSON a rendered report page embeds for its script."""
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert match is not None, "the page embeds no report data"
    data: dict[str, Any] = orjson.loads(match.group(1))
    return data


def validate(artifacts: EpisodeArtifacts) -> None:
    """Check the artifacts against the contracts (the report must read what the pipeline writes)."""
    if artifacts.enriched is not None:
        EnrichedTranscript.model_validate(artifacts.enriched)
    if artifacts.diarization is not None:
        RawDiarization.model_validate(artifacts.diarization)
    if artifacts.audit is not None:
        AuditArtifact.model_validate(artifacts.audit)
    if artifacts.error is not None:
        ErrorArtifact.model_validate(artifacts.error)


def _enriched(episode_id: str, speakers: list[dict[str, Any]], words: list[dict[str, Any]]) -> dict[str, Any]:
    """An enriched transcript as the pipeline writes it (pyannoteAI source)."""
    return {
        "schema_version": 1,
        "episode_id": episode_id,
        "source": "pyannote",
        "created_at": CREATED_AT,
        "speakers": speakers,
        "words": words,
    }


def _diarization(episode_id: str, job_id: str, segments: list[dict[str, Any]]) -> dict[str, Any]:
    """A raw pyannoteAI diarization."""
    return {
        "schema_version": 1,
        "episode_id": episode_id,
        "source": "pyannote",
        "model": "precision-2",
        "job_id": job_id,
        "created_at": CREATED_AT,
        "segments": segments,
    }


def _speaker_sequence(rng: np.random.Generator, num_turns: int, num_speakers: int) -> np.ndarray:
    """Speakers of successive turns: never the same twice in a row, the first ones talking most."""
    weights = np.linspace(2.0, 0.6, num_speakers)
    sequence = np.empty(num_turns, dtype=int)
    previous = -1
    for turn in range(num_turns):
        probabilities = weights.copy()
        if previous >= 0:
            probabilities[previous] = 0
        probabilities /= probabilities.sum()
        previous = sequence[turn] = int(rng.choice(num_speakers, p=probabilities)) if turn >= num_speakers else turn
    return sequence


def _audit(
    episode_id: str,
    source: str,
    clusters: list[tuple[str, str, float, int, str | None, float | None, tuple[float, float]]],
    *,
    near_misses: list[dict[str, Any]],
) -> dict[str, Any]:
    return AuditArtifact.model_validate(
        {
            "schema_version": 1,
            "episode_id": episode_id,
            "created_at": CREATED_AT,
            "source": source,
            "clusters": [
                {
                    "speakerKey": key,
                    "label": label,
                    "duration": duration,
                    "segmentsCount": count,
                    "mappedTo": mapped,
                    "referenceId": f"vp-{mapped.lower()}" if mapped else None,
                    "confidence": confidence,
                    "diarizationConfidence": 0.9,
                    "representative": {"start": start, "end": end, "confidence": 0.95, "clipKey": None},
                }
                for key, label, duration, count, mapped, confidence, (start, end) in clusters
            ],
            "totalSegments": sum(cluster[3] for cluster in clusters),
            "nearMisses": near_misses,
            "thresholds": {
                "nearMissMargin": 0.15,
                "gapTolerance": 1.0,
                "fallbackConfidence": 0.8,
                "matchThreshold": 0.75,
            },
            "registryStatus": "ok",
        }
    ).to_json_dict()


_WORDS_TEXT = (
    "so the thing is we were talking about podcasts and how people actually listen right yeah exactly "
    "I mean you know that's a good point but honestly it depends on whether the show has chapters or not "
    "which most editors would rather avoid because it takes a long time to do well Chicago Texas Jersey "
    "interview episode season guest microphone studio remote recording"
)
_VOCABULARY = _WORDS_TEXT.split()
