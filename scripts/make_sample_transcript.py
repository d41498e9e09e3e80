"""Derive a Deepgram-shaped transcript from pyannote's sample.stm (run once; output is committed).

Each STM line becomes one utterance; its words share the line's time span in
proportion to their length. Speakers are numbered by first appearance, as
Deepgram numbers them. No speaker_confidence is invented: the STM has none.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "diarflow" / "samples"


def main() -> None:
    speakers: dict[str, int] = {}
    words: list[dict[str, object]] = []
    utterances: list[dict[str, object]] = []
    for line in (SAMPLES / "sample.stm").read_text().splitlines():
        _, _, name, start_text, end_text, *tokens = line.split()
        start, end = float(start_text), float(end_text)
        speaker = speakers.setdefault(name, len(speakers))
        weights = [len(token) for token in tokens]
        total = sum(weights)
        cursor = start
        line_words = []
        for token, weight in zip(tokens, weights, strict=True):
            span = (end - start) * weight / total
            line_words.append(
                {
                    "word": re.sub(r"[^\w']", "", token).lower(),
                    "start": round(cursor, 3),
                    "end": round(cursor + span, 3),
                    "confidence": 0.99,
                    "speaker": speaker,
                    "punctuated_word": token,
                }
            )
            cursor += span
        words.extend(line_words)
        utterances.append(
            {
                "id": f"utt-{len(utterances)}",
                "start": start,
                "end": end,
                "confidence": 0.99,
                "channel": 0,
                "transcript": " ".join(tokens),
                "words": line_words,
                "speaker": speaker,
            }
        )
    response = {
        "metadata": {"request_id": "sample", "duration": 30.0, "channels": 1, "models": ["derived-from-stm"]},
        "results": {
            "channels": [
                {
                    "alternatives": [
                        {
                            "transcript": " ".join(str(w["punctuated_word"]) for w in words),
                            "confidence": 0.99,
                            "words": words,
                        }
                    ]
                }
            ],
            "utterances": utterances,
        },
    }
    (SAMPLES / "sample.deepgram.json").write_text(json.dumps(response, indent=1) + "\n")
    sys.stdout.write(f"wrote {len(words)} words, {len(utterances)} utterances, speakers {speakers}\n")


if __name__ == "__main__":
    main()
