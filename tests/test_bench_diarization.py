"""benchmarks/bench_diarization.py: the worker, the scoring per clip and per set, diarizers side by side.

Diarizers with known answers (tests/fakes/diarizers.py) run through the real worker process,
so every figure below is exact; one test runs v1 itself on a real AMI clip without a transcript.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from diarflow.eval_data import ensure_ami, load_split
from tests import recut

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_diarization as bench  # noqa: E402
import diarizers  # noqa: E402

ORACLE = "tests.fakes.diarizers:oracle"
LATE = "tests.fakes.diarizers:one_second_late"


@pytest.fixture(autouse=True)
def _worker_imports_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker runs as a script; the fake diarizers live in this repository's tests package."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


def _clip(folder: Path, name: str, seconds: float, reference: list[tuple[float, float, str]]) -> bench.BenchClip:
    audio = folder / f"{name}.wav"
    recut.write_wav(audio, np.zeros(round(seconds * recut.RATE), dtype=np.float32))
    audio.with_suffix(".rttm").write_text(recut.to_rttm(reference, name))
    return bench.BenchClip(name, audio, seconds, tuple(reference), ((0.0, seconds),))


@pytest.fixture
def toy_set(tmp_path: Path) -> list[bench.BenchClip]:
    return [
        _clip(tmp_path, "two", 20.0, [(0.0, 10.0, "a"), (10.0, 20.0, "b")]),
        _clip(tmp_path, "one", 10.0, [(2.0, 6.0, "c")]),
    ]


def test_reference_as_hypothesis_scores_zero(toy_set: list[bench.BenchClip]) -> None:
    result = bench.evaluate("toy", toy_set, ORACLE)
    assert [row["der"] for row in result["clips"]] == [0.0, 0.0]
    assert (result["total"]["der"], result["total"]["jer"]) == (0.0, 0.0)
    assert result["speaker_count_right"] == 2
    assert result["audio_seconds"] == 30.0
    assert result["peak_rss_mb"] > 0
    assert result["rtf"] >= 0


def test_one_second_late_scores_what_it_should(toy_set: list[bench.BenchClip]) -> None:
    result = bench.evaluate("toy", toy_set, LATE)
    two, one = result["clips"]
    # two: 0-1 s missed, 10-11 s confused, 20-21 s outside the UEM (not false alarm): 2 s of 20.
    assert (two["der"], two["missed"], two["confusion"], two["false_alarm"]) == pytest.approx((0.1, 0.05, 0.05, 0))
    # one: 2-3 s missed, 6-7 s false alarm: 2 s of 4.
    assert (one["der"], one["missed"], one["false_alarm"]) == pytest.approx((0.5, 0.25, 0.25))
    assert result["total"]["der"] == pytest.approx(4 / 24)  # pooled seconds, not the mean of 10 % and 50 %
    assert (result["total"]["reference_speakers"], result["total"]["hypothesis_speakers"]) == (3, 3)


def test_diarizers_side_by_side_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--sets", "sample", "--diarizers", f"{ORACLE},{LATE}", "--json"])
    report = json.loads(capsys.readouterr().out)
    results = report["sets"]["sample"]["diarizers"]
    assert list(results) == [ORACLE, LATE]
    assert results[ORACLE]["total"]["der"] == 0.0
    assert 0 < results[LATE]["total"]["der"] < 1
    assert results[ORACLE]["clips"][0]["clip"] == "sample"
    assert (report["collar"], report["overlap_scored"]) == (0.0, True)


def test_tables_show_every_clip_and_total_per_diarizer(capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--sets", "sample", "--diarizers", f"{ORACLE},{LATE}"])
    out = capsys.readouterr().out
    assert "== sample:" in out
    assert "== totals" in out
    sample_rows = [line for line in out.splitlines() if line.startswith("sample ")]
    total_rows = [line for line in out.splitlines() if line.startswith("total ")]
    assert len(sample_rows) == 1 + 2  # the clip's first row, then one per diarizer in the summary
    assert len(total_rows) == 2
    assert all("RTF" in line and "peak RSS" in line for line in total_rows)


def test_unknown_names_fail_before_anything_runs() -> None:
    with pytest.raises(SystemExit, match="unknown diarizer 'v9'"):
        bench.main(["--sets", "sample", "--diarizers", "v1,v9"])
    with pytest.raises(SystemExit):
        bench.main(["--sets", "nope"])


def test_registry_names_v1_and_an_audio_only_v1() -> None:
    assert {"v1", "v1-audio"} <= set(diarizers.DIARIZERS)
    assert diarizers.resolve("v1").reads_transcript
    assert not diarizers.resolve("v1-audio").reads_transcript
    assert diarizers.resolve(ORACLE).about == ORACLE


def test_vad_words_cover_the_speech_v1_hears() -> None:
    from types import SimpleNamespace

    from diarflow.adapters.diarizers.local.vad import SileroVad
    from diarflow.domain.transcript import read_transcript

    document = diarizers.vad_transcript(SimpleNamespace(vad=SileroVad.load()), str(recut.SAMPLES / "sample.wav"))
    transcript = read_transcript(document)
    lengths = transcript.ends - transcript.starts
    assert len(transcript) > 20
    assert bool(np.all(np.diff(transcript.starts) >= 0))
    assert transcript.ends[-1] <= 30.0 + 0.032  # the VAD's last 32 ms frame may pass the end; v1 clips it
    assert float(lengths.max()) <= 1.5 * diarizers.VAD_WORD_SECONDS
    assert 10 < float(lengths.sum()) < 30  # the sample holds ~24 s of reference speech


@pytest.mark.slow
def test_v1_diarizes_a_real_meeting_clip_from_audio_alone() -> None:
    (clip, _) = load_split("development", ensure_ami(ROOT / ".eval-data").parent)
    bench_clip = bench.BenchClip(clip.clip_id, clip.audio, 30.0, clip.reference, clip.uem)
    result = bench.evaluate("ami-development", [bench_clip], "v1")
    row = result["clips"][0]
    assert row["hypothesis_speakers"] >= 1
    assert row["der"] < 0.6  # development, not test: this checks that it works, it tunes nothing
