"""Diarizers with known answers, plugged into the benchmark as ``tests.fakes.diarizers:<name>``.

Each reads the reference RTTM next to the audio (``x.wav`` -> ``x.rttm``), so its scores are
known without running a model: :func:`oracle` returns the reference (DER 0), :func:`one_second_late`
returns it shifted by one second.
"""

from __future__ import annotations

from pathlib import Path

from diarflow.domain.diarization_metrics import parse_rttm
from diarflow.domain.turns import Turns


def _reference(audio_path: str, shift: float = 0.0) -> Turns:
    turns = parse_rttm(Path(audio_path).with_suffix(".rttm").read_text())
    return Turns.from_columns(
        [start + shift for start, _, _ in turns],
        [end + shift for _, end, _ in turns],
        [f"hyp-{speaker}" for _, _, speaker in turns],
    )


def oracle(audio_path: str, **_hints: int | None) -> Turns:
    return _reference(audio_path)


def one_second_late(audio_path: str, **_hints: int | None) -> Turns:
    return _reference(audio_path, shift=1.0)
