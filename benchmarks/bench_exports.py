"""Export speed on a 6.7-hour episode: 80,000 words, ~4,000 turns, 5 speakers.

Run: ``.venv/bin/python benchmarks/bench_exports.py [--words N] [--repeat R] [--language en|zh]``.

Prints, per format, the best of ``--repeat`` runs of rendering from an
already-read episode, plus the one-off cost of reading the decoded artifacts
into columns (and of the enriched words alone, strictly as exports read them
and leniently as the report and ``diarflow show`` do), and for comparison the cost of validating the same enriched
transcript with the pydantic contract (which the export path avoids).
``--language zh`` draws Chinese words instead (a character or two each, some
digits spelled out one per word), which take the per-word spacing path of
:mod:`diarflow.domain.text` rather than its all-spaces fast path.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from diarflow.contracts import EnrichedTranscript
from diarflow.domain.enriched_words import read_enriched_words
from diarflow.domain.exports import FORMATS, CaptionOptions, EpisodeExport, render
from diarflow.domain.text import word_spacing

EPISODE_SECONDS = 6.7 * 3600
SPEAKER_NAMES = ("Diane Rehm", "Marcus", "C", "D", "E")
VOCABULARY = ("so", "the", "podcast", "today", "we", "talk", "about", "speaker", "diarization,", "really?", "yes.")
VOCABULARIES = {
    "en": VOCABULARY,
    "zh": ("這", "不", "是", "我們", "今天", "聊", "說話人", "分離，", "真的嗎？", "對。", "3", "0", "iPhone"),
}


def synthetic_episode(
    num_words: int, num_turns: int, *, seed: int = 7, vocabulary: tuple[str, ...] = VOCABULARY
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A decoded enriched transcript and raw diarization shaped like a real long episode."""
    rng = random.Random(seed)
    word_seconds = EPISODE_SECONDS / num_words
    turn_bounds = sorted(rng.sample(range(1, num_words), num_turns - 1))
    speaker_of_turn = [0]
    for _ in range(num_turns - 1):
        speaker_of_turn.append((speaker_of_turn[-1] + rng.randrange(1, len(SPEAKER_NAMES))) % len(SPEAKER_NAMES))
    words: list[dict[str, Any]] = []
    segments: list[dict[str, Any]] = []
    turn = 0
    turn_start = 0.0
    for index in range(num_words):
        if turn < len(turn_bounds) and index == turn_bounds[turn]:
            segments.append(_segment(turn_start, index * word_seconds, speaker_of_turn[turn]))
            turn += 1
            turn_start = index * word_seconds
        start = index * word_seconds
        unattributed = rng.random() < 0.01  # ~1 % of words fall between turns
        speaker = speaker_of_turn[turn]
        words.append(
            {
                "start": round(start, 3),
                "end": round(start + word_seconds * 0.8, 3),
                "word": rng.choice(vocabulary),
                "speaker": None if unattributed else SPEAKER_NAMES[speaker],
                "speaker_confidence": None if unattributed else round(rng.uniform(0.5, 1.0), 3),
                "diar_speaker": "UNKNOWN" if unattributed else f"SPEAKER_{speaker}",
                "source": "pyannote",
                "alternatives": None,
            }
        )
    segments.append(_segment(turn_start, num_words * word_seconds, speaker_of_turn[turn]))
    enriched = {
        "schema_version": 1,
        "episode_id": "BENCH",
        "source": "pyannote",
        "created_at": "2025-01-01T00:00:00.000Z",
        "speakers": [
            {"diar_speaker": f"SPEAKER_{k}", "label": "ABCDE"[k], "speaker": name, "identified": len(name) > 1}
            for k, name in enumerate(SPEAKER_NAMES)
        ],
        "words": words,
    }
    diarization = {
        "schema_version": 1,
        "episode_id": "BENCH",
        "source": "pyannote",
        "created_at": "2025-01-01T00:00:00.000Z",
        "segments": segments,
    }
    return enriched, diarization


def _segment(start: float, end: float, speaker: int) -> dict[str, Any]:
    return {"start": round(start, 3), "end": round(end, 3), "speaker": f"SPEAKER_{speaker}", "confidence": 0.9}


def best_of(repeat: int, action: Callable[[], object]) -> float:
    """The fastest of ``repeat`` runs, in seconds (the least disturbed by the machine)."""
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        action()
        timings.append(time.perf_counter() - began)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=80_000)
    parser.add_argument("--turns", type=int, default=4_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--language", choices=sorted(VOCABULARIES), default="en")
    args = parser.parse_args()

    enriched, diarization = synthetic_episode(args.words, args.turns, vocabulary=VOCABULARIES[args.language])
    hours = EPISODE_SECONDS / 3600
    print(
        f"episode: {args.words:,} words ({args.language}), {args.turns:,} turns, {len(SPEAKER_NAMES)} speakers, "
        f"{hours:.1f} h"
    )

    def read() -> EpisodeExport:
        return EpisodeExport.from_artifacts("BENCH", enriched=enriched, diarization=diarization)

    read_seconds = best_of(args.repeat, read)
    episode = read()
    assert episode.words is not None
    texts = episode.words.texts
    spacing_seconds = best_of(args.repeat, lambda: word_spacing(texts))
    options = CaptionOptions()
    print(f"{'read artifacts':<16} {read_seconds * 1000:8.1f} ms")
    for mode, lenient in (("strict", False), ("lenient", True)):
        seconds = best_of(args.repeat, partial(read_enriched_words, enriched, lenient=lenient))
        print(f"{'words, ' + mode:<16} {seconds * 1000:8.1f} ms  (the enriched words alone)")
    print(f"{'word spacing':<16} {spacing_seconds * 1000:8.1f} ms  (once per episode, shared by every format)")
    total = 0.0
    for name in FORMATS:
        seconds = best_of(args.repeat, partial(render, episode, name, options))
        size = len(render(episode, name, options).encode())
        total += seconds
        print(f"{name:<16} {seconds * 1000:8.1f} ms  {size / 1e6:6.2f} MB")
    print(f"{'all formats':<16} {total * 1000:8.1f} ms  (+ {read_seconds * 1000:.1f} ms read once)")
    pydantic_seconds = best_of(1, lambda: EnrichedTranscript.model_validate(enriched))
    print(f"{'pydantic check':<16} {pydantic_seconds * 1000:8.1f} ms  (validating the enriched transcript, not used)")


if __name__ == "__main__":
    main()
