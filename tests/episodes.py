"""Small episode builders shared by the pipeline tests."""

from __future__ import annotations

from typing import Any

import orjson

from diarflow.adapters.stores import ObjectStore
from diarflow.config import Settings
from diarflow.contracts import DiarizeRequested
from diarflow.orchestration import Workspace, ingest_transcript


def transcript_from_turns(turns: list[tuple[float, float, int]], *, words_per_turn: int = 4) -> dict[str, Any]:
    """A Deepgram-shaped transcript whose utterances are exactly ``turns`` (start, end, speaker)."""
    words: list[dict[str, Any]] = []
    utterances = []
    for index, (start, end, speaker) in enumerate(turns):
        step = (end - start) / words_per_turn
        own = [
            {
                "word": f"w{index}_{j}",
                "punctuated_word": f"W{index}_{j}",
                "start": round(start + j * step, 6),
                "end": round(start + (j + 1) * step, 6),
                "confidence": 0.99,
                "speaker": speaker,
            }
            for j in range(words_per_turn)
        ]
        words.extend(own)
        utterances.append({"start": start, "end": end, "speaker": speaker, "id": f"u{index}", "words": own})
    words.sort(key=lambda w: w["start"])
    return {
        "metadata": {"duration": max(t[1] for t in turns)},
        "results": {"channels": [{"alternatives": [{"words": words}]}], "utterances": utterances},
    }


SPEC_TURNS = [(0.0, 2.5, 0), (2.5, 5.0, 1), (5.0, 8.0, 0)]
"""The spec's 3-segment fixture."""


def ingest(store: ObjectStore, episode_id: str, document: dict[str, Any], **request: Any) -> DiarizeRequested:
    """Store a transcript the way ``diarflow run`` does and build the trigger for it."""
    ws = Workspace(store=store, settings=Settings.from_env({}))
    key = ingest_transcript(ws, episode_id, orjson.dumps(document))
    return DiarizeRequested(episode_id=episode_id, transcript_key=key, **request)
