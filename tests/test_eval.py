"""``diarflow eval`` and the metrics behind it (DER/JER via pyannote.metrics, word speaker error)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diarflow.domain.diarization_metrics import (
    DiarizationScorer,
    diarization_scores,
    parse_rttm,
    parse_word_reference,
    turn_accuracy,
    word_speaker_error_rate,
)
from diarflow.errors import InvalidInput

pytest.importorskip("pyannote.metrics")

REFERENCE = [(0.0, 10.0, "alice"), (10.0, 20.0, "bob")]


def test_perfect_hypothesis_scores_zero() -> None:
    scores = diarization_scores(REFERENCE, [(0.0, 10.0, "A"), (10.0, 20.0, "B")])
    assert scores.der == pytest.approx(0.0)
    assert scores.jer == pytest.approx(0.0)
    assert (scores.reference_speakers, scores.hypothesis_speakers) == (2, 2)


def test_components_add_up() -> None:
    # 2 s confused (bob's 10-12 given to A), 1 s missed (19-20), 1 s false alarm (20-21).
    hypothesis = [(0.0, 12.0, "A"), (12.0, 19.0, "B"), (20.0, 21.0, "B")]
    scores = diarization_scores(REFERENCE, hypothesis)
    assert scores.confusion == pytest.approx(2 / 20)
    assert scores.missed == pytest.approx(1 / 20)
    assert scores.false_alarm == pytest.approx(1 / 20)
    assert scores.der == pytest.approx(4 / 20)


def test_collar_forgives_boundaries() -> None:
    hypothesis = [(0.0, 10.1, "A"), (10.1, 20.0, "B")]
    assert diarization_scores(REFERENCE, hypothesis).der > 0
    assert diarization_scores(REFERENCE, hypothesis, collar=0.25).der == pytest.approx(0.0)


def test_uem_limits_what_is_scored() -> None:
    # Everything one second late: 0-1 s missed, 10-11 s confused (bob's time given to A), 20-21 s false alarm.
    shifted = [(1.0, 11.0, "A"), (11.0, 21.0, "B")]
    whole = diarization_scores(REFERENCE, shifted)  # no UEM: the extent of both, 0-21 s
    assert (whole.missed, whole.confusion, whole.false_alarm) == pytest.approx((1 / 20, 1 / 20, 1 / 20))
    inside = diarization_scores(REFERENCE, shifted, uem=[(0.0, 20.0)])  # 20-21 s is not scored
    assert (inside.der, inside.false_alarm) == pytest.approx((2 / 20, 0.0))
    assert diarization_scores(REFERENCE, shifted, uem=[(2.0, 9.0), (12.0, 18.0)]).der == pytest.approx(0.0)


def test_reference_against_itself_scores_zero_inside_a_uem() -> None:
    overlapping = [(0.0, 5.0, "a"), (4.0, 9.0, "b"), (8.5, 12.0, "c")]
    scores = diarization_scores(overlapping, overlapping, uem=[(0.0, 12.0)])
    assert (scores.der, scores.jer) == (0.0, 0.0)
    assert scores.reference_speech == pytest.approx(13.5)  # 5 + 5 + 3.5: overlap counted once per speaker


def test_set_total_is_pooled_not_averaged() -> None:
    scorer = DiarizationScorer()
    first = scorer.score(REFERENCE, [(1.0, 11.0, "A"), (11.0, 21.0, "B")], uem=[(0.0, 20.0)])  # 2 s wrong of 20
    second = scorer.score([(0.0, 10.0, "carol")], [(0.0, 10.0, "X")], uem=[(0.0, 10.0)])  # perfect, 10 s
    total = scorer.total()
    assert (first.der, second.der) == pytest.approx((0.1, 0.0))
    assert total.der == pytest.approx(2 / 30)  # pyannote.metrics pools the seconds; the mean would be 5 %
    assert (total.missed, total.confusion, total.false_alarm) == pytest.approx((1 / 30, 1 / 30, 0.0))
    assert total.reference_speech == pytest.approx(30.0)
    # JER is the mean over every (file, reference speaker) pair: alice 2/11 (1 s missed, 1 s extra of
    # their 11 s union), bob 1/10 (1 s missed; 20-21 s is outside the UEM), carol 0.
    assert first.jer == pytest.approx((2 / 11 + 1 / 10) / 2)
    assert total.jer == pytest.approx((2 / 11 + 1 / 10 + 0) / 3)
    assert (total.reference_speakers, total.hypothesis_speakers) == (3, 3)


def test_empty_set_total_is_zero() -> None:
    total = DiarizationScorer().total()
    assert (total.der, total.jer, total.reference_speech) == (0.0, 0.0, 0.0)


def test_uem_regions_are_checked() -> None:
    with pytest.raises(InvalidInput, match="uem"):
        diarization_scores(REFERENCE, REFERENCE, uem=[(5.0, 1.0)])


def test_parse_rttm() -> None:
    text = "SPEAKER ep 1 1.5 2.0 <NA> <NA> spk1 <NA> <NA>\n;; comment\nSPEAKER ep 1 4 1 <NA> <NA> spk2 <NA> <NA>\n"
    assert parse_rttm(text) == [(1.5, 3.5, "spk1"), (4.0, 5.0, "spk2")]
    with pytest.raises(InvalidInput, match=r"ref\.rttm:1"):
        parse_rttm("SPEAKER ep 1 x 2 <NA> <NA> s <NA> <NA>\n", path="ref.rttm")


def test_word_error_uses_best_mapping() -> None:
    reference = [(0.0, 0.5, "alice"), (0.5, 1.0, "alice"), (1.0, 1.5, "bob"), (1.5, 2.0, "bob")]
    hypothesis = [(0.0, 0.5, "B"), (0.5, 1.0, "B"), (1.0, 1.5, "A"), (1.5, 2.0, "B")]
    scores = word_speaker_error_rate(reference, hypothesis)
    assert scores.mapping == {"B": "alice", "A": "bob"}
    assert (scores.errors, scores.words) == (1, 4)
    assert scores.error_rate == pytest.approx(0.25)


def test_turn_accuracy_counts_each_turns_right_seconds_under_the_best_mapping() -> None:
    reference = [(0.0, 10.0, "alice"), (10.0, 20.0, "bob"), (15.0, 18.0, "alice")]
    hypothesis = [(0.0, 9.0, "X"), (9.0, 20.0, "Y"), (21.0, 22.0, "Y"), (16.0, 17.0, "Z")]
    # X -> alice, Y -> bob (Z shares only 1 s with alice, who X takes); Y's first second is alice's.
    assert turn_accuracy(reference, hypothesis) == [(9.0, 9.0), (11.0, 10.0), (1.0, 0.0), (1.0, 0.0)]
    # Inside the UEM only: the turn past it counts nothing, the long one 10 s.
    assert turn_accuracy(reference, hypothesis, uem=[(0.0, 19.0)]) == [(9.0, 9.0), (10.0, 9.0), (0.0, 0.0), (1.0, 0.0)]
    assert turn_accuracy(reference, []) == []


def test_word_without_speaker_is_an_error() -> None:
    reference = [(0.0, 0.5, "alice"), (5.0, 5.5, "alice")]
    scores = word_speaker_error_rate(reference, [(0.0, 0.5, "A"), (5.0, 5.5, None)])
    assert (scores.errors, scores.unattributed) == (1, 1)


def test_word_reference_validation() -> None:
    assert parse_word_reference({"words": [{"start": 0, "end": 1, "speaker": "a"}]}) == [(0.0, 1.0, "a")]
    with pytest.raises(InvalidInput, match=r"words\[0\].speaker"):
        parse_word_reference([{"start": 0, "end": 1}])


# --- the command ---------------------------------------------------------------------------------


def _store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    (root / "diarization").mkdir(parents=True)
    segments = [
        {"start": 0.0, "end": 10.0, "speaker": "SPEAKER_00", "confidence": 0.9},
        {"start": 10.0, "end": 20.0, "speaker": "SPEAKER_01", "confidence": 0.8},
    ]
    diarization = {
        "schema_version": 1,
        "episode_id": "E1",
        "source": "local",
        "created_at": "2026-01-01T00:00:00Z",
        "segments": segments,
    }
    (root / "diarization" / "E1.json").write_text(json.dumps(diarization))
    words = [
        {
            "start": 1.0,
            "end": 1.5,
            "word": "hi",
            "speaker": "A",
            "speaker_confidence": 0.9,
            "diar_speaker": "A",
            "source": "local",
        },
        {
            "start": 11.0,
            "end": 11.5,
            "word": "yo",
            "speaker": "B",
            "speaker_confidence": 0.9,
            "diar_speaker": "B",
            "source": "local",
        },
        {
            "start": 12.0,
            "end": 12.5,
            "word": "ok",
            "speaker": "A",
            "speaker_confidence": 0.9,
            "diar_speaker": "A",
            "source": "local",
        },
    ]
    enriched = {
        "schema_version": 1,
        "episode_id": "E1",
        "source": "local",
        "created_at": "x",
        "speakers": [],
        "words": words,
    }
    (root / "diarization" / "E1.enriched.json").write_text(json.dumps(enriched))
    return root


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    from diarflow.cli import app

    return CliRunner().invoke(app, ["eval", *args])


def test_eval_json(tmp_path: Path) -> None:
    root = _store(tmp_path)
    rttm = tmp_path / "ref.rttm"
    rttm.write_text("SPEAKER E1 1 0 10 <NA> <NA> alice <NA> <NA>\nSPEAKER E1 1 10 10 <NA> <NA> bob <NA> <NA>\n")
    words = tmp_path / "words.json"
    words.write_text(
        json.dumps(
            [
                {"start": 1.0, "end": 1.5, "speaker": "alice"},
                {"start": 11.0, "end": 11.5, "speaker": "bob"},
                {"start": 12.0, "end": 12.5, "speaker": "bob"},
            ]
        )
    )
    done = _invoke(
        "--episode-id", "E1", "--reference", str(rttm), "--words-reference", str(words), "--json", "--store", str(root)
    )
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["der"] == pytest.approx(0.0)
    assert result["source"] == "local"
    assert {"false_alarm", "missed", "confusion", "jer"} <= set(result)
    assert result["words"]["errors"] == 1
    assert result["words"]["error_rate"] == pytest.approx(1 / 3)


def test_eval_table(tmp_path: Path) -> None:
    root = _store(tmp_path)
    rttm = tmp_path / "ref.rttm"
    rttm.write_text("SPEAKER E1 1 0 20 <NA> <NA> alice <NA> <NA>\n")
    done = _invoke("--episode-id", "E1", "--reference", str(rttm), "--collar", "0.25", "--store", str(root))
    assert done.exit_code == 0, done.output
    for label in ("DER", "confusion", "JER"):
        assert label in done.stdout


def test_eval_missing_diarization_says_what_to_do(tmp_path: Path) -> None:
    rttm = tmp_path / "ref.rttm"
    rttm.write_text("SPEAKER E1 1 0 20 <NA> <NA> alice <NA> <NA>\n")
    done = _invoke("--episode-id", "E2", "--reference", str(rttm), "--store", str(tmp_path / "empty"))
    assert done.exit_code == 1
    assert "diarflow run" in done.stderr


def test_eval_bad_inputs(tmp_path: Path) -> None:
    root = _store(tmp_path)
    done = _invoke("--episode-id", "E1", "--reference", str(tmp_path / "missing.rttm"), "--store", str(root))
    assert done.exit_code == 2
    assert "does not exist" in done.stderr
    done = _invoke("--episode-id", "../x", "--reference", str(tmp_path / "missing.rttm"), "--store", str(root))
    assert done.exit_code == 2
