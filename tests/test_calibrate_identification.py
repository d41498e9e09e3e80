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
    scores: list[list[float]],
    truths: list[str],
    people: list[str],
    left_out: str | None = None,
    *,
    source: str = "local",
    duration: float = 3.0,
) -> calibration.Run:
    return calibration.Run(
        group="calibration",
        source=source,
        mode="cross",
        duration=duration,
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


def _strangers(mean: float, sd: float, duration: float, seed: int) -> calibration.Run:
    """Twenty clusters nobody enrolled, each scored against eight people's voiceprints."""
    rng = np.random.default_rng(seed)
    people = [f"P{k}" for k in range(8)]
    scores = np.clip(rng.normal(mean, sd, size=(20, 8)), -1, 1)
    return _run(scores.tolist(), ["stranger"] * 20, people, source="local-own", duration=duration)


def test_enrolments_are_short_while_their_impostor_scores_predict_over_one_percent() -> None:
    # Strangers score high against 3 s and 5 s voiceprints (as against the diarizer's own embeddings), low
    # against 10 s ones: at 0.50 + 0.04 the first two predict ~2-4 % false accepts, the last ~0.
    runs = [_strangers(0.16, 0.145, 3.0, 1), _strangers(0.16, 0.145, 5.0, 2), _strangers(0.0, 0.1, 10.0, 3)]
    fits_of = calibration.impostor_fits
    assert calibration.choose_short_limit(fits_of(runs), 0.50, 0.04) == 10.0
    # A stricter bar that every duration meets leaves no enrolment short.
    assert calibration.choose_short_limit(fits_of(runs), 0.70, 0.04) == calibration.DURATIONS[0]
    # When even the longest measured enrolments predict too many, no limit can help: said, not guessed.
    with pytest.raises(SystemExit, match="enrolments of 5 s still predict over 1 %"):
        calibration.choose_short_limit(fits_of(runs[:2]), 0.50, 0.04)

    chosen = calibration.choose_short_threshold(runs, fits_of(runs), 0.50, 0.04, None, limit=10.0)
    fits = [calibration.ImpostorFit.of([run]) for run in runs[:2]]
    assert all(fit is not None for fit in fits)
    worst = [max(fit.false_accepts(t, 0.04) for fit in fits if fit is not None) for t in (chosen - 0.005, chosen)]
    assert worst[1] <= calibration.MAX_FALSE_ACCEPTS < worst[0]  # the lowest threshold that predicts <= 1 %
    assert chosen > 0.50


def test_too_few_impostor_scores_predict_nothing() -> None:
    few = _run([[0.2, 0.3]] * 10, ["stranger"] * 10, ["A", "B"])  # 20 scores
    assert calibration.ImpostorFit.of([few]) is None
