"""benchmarks/calibrate_identification.py: the impostor scores its false-accept model is fitted to."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import calibrate_identification as calibration  # noqa: E402


def _run(
    scores: list[list[float]], truths: list[str], people: list[str], left_out: str | None = None
) -> calibration.Run:
    return calibration.Run(
        group="calibration",
        source="local",
        mode="cross",
        duration=3.0,
        scores=np.array(scores),
        truths=truths,
        speech=np.full(len(truths), 12.0),
        people=people,
        left_out=left_out,
    )


def test_impostor_scores_are_each_cluster_against_other_peoples_voiceprints() -> None:
    # Cluster 0 is Ann (enrolled): her own score 0.8 is no impostor score. Cluster 1 is Cy (not
    # enrolled): both scores are. A voiceprint that could not be compared (-inf) is no score at all.
    full = _run([[0.8, 0.1, -math.inf], [0.3, 0.2, 0.4]], ["Ann", "Cy"], ["Ann", "Bo", "Di"])
    # The open-set rerun without Ann's voiceprint repeats clusters already counted: left out.
    rerun = _run([[0.1, -math.inf], [0.2, 0.4]], ["Ann", "Cy"], ["Bo", "Di"], left_out="Ann")

    _, scores, rivals = calibration.trial_scores([full, rerun])

    assert sorted(scores.tolist()) == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert rivals == [1, 3]


def test_impostor_tails_predict_more_false_accepts_from_a_looser_bar(capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(7)
    people = [f"P{k}" for k in range(8)]
    runs = [_run(rng.normal(0.15, 0.13, size=(20, 8)).tolist(), ["stranger"] * 20, people)]

    def predicted(threshold: float) -> float:
        calibration.impostor_tails(runs, threshold, 0.04, None, threshold)
        row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| calibration"))
        return float(row.split("|")[9].strip().rstrip(" %"))

    loose, strict = predicted(0.4), predicted(0.6)
    assert loose > strict
    assert strict < 1.0  # 0.64 is about 3.8 sd above the impostors' mean
