"""The sample episode bundled with diarflow, for the demo, the README's example and first steps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_FOLDER = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class SampleEpisode:
    """An episode to try diarflow on: its id, its Deepgram transcript and its audio, as files."""

    episode_id: str
    transcript: Path
    audio: Path


def sample_episode() -> SampleEpisode:
    """pyannote's MIT-licensed two-speaker sample (30 s): a Deepgram transcript and the WAV it transcribes.

    Nothing is copied: the paths point into the installed package (see ``samples/LICENSE.sample``).
    """
    return SampleEpisode("pyannote-sample", _FOLDER / "sample.deepgram.json", _FOLDER / "sample.wav")
