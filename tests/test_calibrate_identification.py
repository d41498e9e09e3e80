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


def test_short_voiceprints_get_the_lowest_threshold_that_predicts_at_most_one_percent() -> None:
    # Strangers score high against 3 s and 5 s voiceprints: at 0.50 + 0.04 they predict ~2-4 % false accepts.
    runs = [_strangers(0.16, 0.145, 3.0, 1), _strangers(0.16, 0.145, 5.0, 2), _strangers(0.0, 0.1, 10.0, 3)]
    chosen = calibration.choose_short_threshold(runs, calibration.impostor_fits(runs), 0.50, 0.04, None)
    fits = [calibration.ImpostorFit.of([run]) for run in runs[:2]]
    assert all(fit is not None for fit in fits)
    worst = [max(fit.false_accepts(t, 0.04) for fit in fits if fit is not None) for t in (chosen - 0.005, chosen)]
    assert worst[1] <= calibration.MAX_FALSE_ACCEPTS < worst[0]  # the lowest threshold that predicts <= 1 %
    assert chosen > 0.50
    # When strangers score no higher against short voiceprints than against long ones, the plain threshold.
    alike = [_strangers(0.0, 0.1, 3.0, 4), _strangers(0.0, 0.1, 5.0, 5), _strangers(0.0, 0.1, 10.0, 6)]
    assert calibration.choose_short_threshold(alike, calibration.impostor_fits(alike), 0.50, 0.04, None) == 0.50


def _enrolled(duration: float, heard: list[float]) -> calibration.Run:
    run = _run([[0.1] * len(heard)], ["stranger"], [f"P{k}" for k in range(len(heard))], duration=duration)
    run.enrolled = np.array(heard)
    return run


def test_short_means_less_speech_heard_than_every_ten_second_enrolment_holds() -> None:
    # The detector hears less than the reference marks (pauses, inaudible stretches): 10 s enrolments hold
    # 6.3-9.2 s. The limit is in what it hears, since that is what enroll records.
    runs = [_enrolled(3.0, [1.1, 3.0]), _enrolled(5.0, [2.1, 5.0]), _enrolled(10.0, [6.29, 9.2])]
    assert calibration.speech_limit(runs) == 6.0
    # Test clips' enrolments choose nothing.
    test_run = _enrolled(10.0, [2.0])
    test_run.group = "test"
    assert calibration.speech_limit([*runs, test_run]) == 6.0
    # A 5 s enrolment holding as much speech as a 10 s one: no limit in speech heard tells them apart.
    with pytest.raises(SystemExit, match="no limit in speech heard tells them apart"):
        calibration.speech_limit([*runs, _enrolled(5.0, [6.5])])


def test_each_voiceprint_is_held_to_the_bar_its_own_speech_earns() -> None:
    from diarflow.domain.identification import SHORT_ENROLMENT_SECONDS

    run = _enrolled(10.0, [SHORT_ENROLMENT_SECONDS - 0.5, SHORT_ENROLMENT_SECONDS + 3.0])
    assert run.bars(0.5, 0.6).tolist() == [0.6, 0.5]
    assert run.bars(0.5, None).tolist() == [0.5, 0.5]
    # A stranger's cluster scoring 0.62 against the short voiceprint is named only at the plain bar.
    run.scores = np.array([[0.62, 0.1]])
    assert calibration.tally([run], 0.5, 0.04, None).false_accepts == 1
    assert calibration.tally([run], 0.5, 0.04, None, short_threshold=0.6).false_accepts == 0


def test_voiceprints_are_enrolled_as_enroll_enrols_them(tmp_path: Path) -> None:
    """The reference marks speech the detector may not hear: such a clip gets no voiceprint, as enroll refuses it."""
    from diarflow.adapters.speaker_embedding import decode_clip
    from diarflow.samples import sample_episode

    speech = decode_clip(sample_episode().audio)[round(16000 * 10.6) : round(16000 * 14.6)]  # one voice
    silence = np.zeros(16000 * 4, dtype=np.float32)
    samples = np.concatenate([speech, silence])
    frames = round(samples.size / 16000 / calibration.GRID)
    clip = calibration.Clip("c1", "calibration", samples, {}, {})
    embeddings = calibration.Embeddings([clip], tmp_path)

    def mask(start: float, end: float) -> calibration.Mask:
        out = np.zeros(frames, dtype=bool)
        out[calibration.frames_of(start) : calibration.frames_of(end)] = True
        return out

    refused = embeddings.voiceprint([("c1", mask(4.5, 7.5))])
    assert isinstance(refused, str)
    assert "no speech heard" in refused
    enrolled = embeddings.voiceprint([("c1", mask(0.0, 5.5))])
    assert not isinstance(enrolled, str)
    vector, heard = enrolled
    assert vector.shape == (192,)
    assert 1.0 <= heard <= 4.0  # what the detector heard, not the 5.5 s the mask marks
    embeddings.save()  # cached with the refusals: a second run reads the same answers
    again = calibration.Embeddings([clip], tmp_path)
    assert len(again.enrolled) == 2  # both answers read from disk, before any is asked for
    assert again.voiceprint([("c1", mask(4.5, 7.5))]) == refused
    cached = again.voiceprint([("c1", mask(0.0, 5.5))])
    assert not isinstance(cached, str)
    assert cached[1] == heard


def test_too_few_impostor_scores_predict_nothing() -> None:
    few = _run([[0.2, 0.3]] * 10, ["stranger"] * 10, ["A", "B"])  # 20 scores
    assert calibration.ImpostorFit.of([few]) is None


def test_a_refused_enrolment_leaves_its_speech_in_the_clusters(tmp_path: Path) -> None:
    """``within`` mode cuts a speaker's enrolment speech out of the clusters only when it made a voiceprint.

    Bo's solo stretch holds nothing the detector hears, so ``enroll`` refuses it: with no voiceprint Bo is
    a stranger to the clip, and his cluster is tested whole.
    """
    from diarflow.adapters.speaker_embedding import decode_clip
    from diarflow.samples import sample_episode

    speech = decode_clip(sample_episode().audio)[round(16000 * 10.6) : round(16000 * 14.6)]  # one voice, 4 s
    samples = np.concatenate([speech, np.zeros(16000 * 4, dtype=np.float32)])
    frames = round(samples.size / 16000 / calibration.GRID)
    half = frames // 2
    ann, bo = np.zeros(frames, dtype=bool), np.zeros(frames, dtype=bool)
    ann[:half], bo[half:] = True, True
    clip = calibration.Clip("c1", "calibration", samples, {"Ann": ann, "Bo": bo}, {"Ann": ann, "Bo": bo})
    rng = np.random.default_rng(3)
    clusters = {
        "oracle": {
            "c1": [
                calibration.Cluster("c1", name, mask, name, own=rng.normal(size=192).astype(np.float32))
                for name, mask in (("Ann", ann), ("Bo", bo))
            ]
        }
    }

    runs = calibration.collect_runs([clip], clusters, calibration.Embeddings([clip], tmp_path))

    within = [r for r in runs if r.mode == "within" and r.duration == 3.0 and r.left_out is None]
    assert len(within) == 1
    assert within[0].people == ["Ann"]  # Bo's 3 s were refused: no voiceprint
    speech = dict(zip(within[0].truths, within[0].speech.tolist(), strict=True))
    assert speech["Ann"] == pytest.approx(1.0)  # her 4 s less the 3 s she was enrolled from
    assert speech["Bo"] == pytest.approx(4.0)  # whole: nothing of his made a voiceprint
