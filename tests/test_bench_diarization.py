"""benchmarks/bench_diarization.py: the worker, the scoring per clip and per set, diarizers side by side.

Diarizers with known answers (tests/fakes/diarizers.py) run through the real worker process,
so every figure below is exact; one test runs the local diarizer itself on a real AMI clip without a transcript.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from diarflow.adapters.diarizers.local.audio import stream_audio
from diarflow.domain.diarization_metrics import diarization_scores
from diarflow.domain.transcript import parse_transcript
from diarflow.domain.turns import Turns
from diarflow.eval_data import ensure_ami, load_split, wav_duration
from tests import meeting_recut, recut

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


def test_turn_time_is_banded_by_confidence_with_the_share_right(toy_set: list[bench.BenchClip]) -> None:
    result = bench.evaluate("toy", toy_set, LATE)
    # Late by 1 s: "two" 1-11 s (9 of 10 s right) and 11-20 s inside the UEM (9 of 9); "one" 3-7 s (3 of 4).
    [band] = result["confidence_bands"]
    assert (band["band"], band["turns"], band["seconds"]) == ("no confidence", 3, pytest.approx(23.0))
    assert band["right"] == pytest.approx(21 / 23)
    bands = bench.confidence_bands([(1.0, 6.0, 6.0), (0.995, 2.0, 1.0), (0.7, 1.0, 0.5), (0.2, 1.0, 0.0)])
    assert [(b["band"], b["turns"], b["share_of_turn_time"], b["right"]) for b in bands] == [
        ("certain (>= 0.99)", 2, 0.8, 7 / 8),
        ("0.5-0.99", 1, 0.1, 0.5),
        ("under 0.5", 1, 0.1, 0.0),
    ]


def test_clips_of_a_group_are_totalled_together_too(
    toy_set: list[bench.BenchClip], capsys: pytest.CaptureFixture[str]
) -> None:
    two, one = toy_set
    grouped = [dataclasses.replace(two, group="+0 s"), dataclasses.replace(one, group="+1 s")]
    result = bench.evaluate("toy", grouped, LATE)
    assert result["total"]["der"] == pytest.approx(4 / 24)
    assert list(result["groups"]) == ["+0 s", "+1 s"]
    assert result["groups"]["+0 s"]["der"] == pytest.approx(0.1)
    assert result["groups"]["+1 s"]["der"] == pytest.approx(0.5)
    assert bench.evaluate("toy", toy_set, LATE)["groups"] == {}
    bench.print_set("toy", "grouped", {LATE: result})
    assert "by group: +0 s 10.0%, +1 s 50.0%; range 10.0%-50.0%, mean 30.0%" in capsys.readouterr().out


def test_meeting_clips_are_heard_at_four_window_alignments(tmp_path: Path) -> None:
    data = ensure_ami(ROOT / ".eval-data").parent
    clips = bench.SETS["ami-dev-test-alignments"].build(data, tmp_path)
    originals = {clip.clip_id: clip for split in ("development", "test") for clip in load_split(split, data)}
    assert len(clips) == len(bench.ALIGNMENTS) * len(originals) == 16
    assert [clip.group for clip in clips[:: len(originals)]] == ["+0 s", "+0.625 s", "+1.25 s", "+1.875 s"]
    unmoved = clips[0]
    assert (unmoved.clip_id, unmoved.audio) == ("dev00+0s", originals["dev00"].audio)
    moved = next(clip for clip in clips if clip.clip_id == "tst01+1.25s")
    original = originals["tst01"]
    assert moved.reference == tuple((start + 1.25, end + 1.25, who) for start, end, who in original.reference)
    assert moved.uem == tuple((start + 1.25, end + 1.25) for start, end in original.uem)
    before = np.concatenate(list(stream_audio(original.audio)))
    after = np.concatenate(list(stream_audio(moved.audio)))
    silence = round(1.25 * recut.RATE)
    assert after.size == before.size + silence
    assert moved.duration == pytest.approx(wav_duration(original.audio) + 1.25)
    assert not after[:silence].any()
    assert np.abs(after[silence:] - before).max() <= 1 / 32768  # the same speech, as 16-bit PCM


def test_the_sample_moved_later_takes_its_words_with_it(tmp_path: Path) -> None:
    clips = bench.SETS["sample-alignments"].build(tmp_path, tmp_path)
    assert [clip.clip_id for clip in clips] == ["sample+0s", "sample+0.625s", "sample+1.25s", "sample+1.875s"]
    (original,) = bench.SETS["sample"].build(tmp_path, tmp_path)
    moved = clips[3]
    assert moved.transcript is not None
    assert original.transcript is not None
    before = parse_transcript(original.transcript.read_bytes())
    after = parse_transcript(moved.transcript.read_bytes())
    assert after.texts == before.texts
    assert after.starts == pytest.approx(before.starts + 1.875)
    assert after.ends == pytest.approx(before.ends + 1.875)
    assert [u.start for u in after.utterances] == pytest.approx([u.start + 1.875 for u in before.utterances])
    assert [u.end for u in after.utterances] == pytest.approx([u.end + 1.875 for u in before.utterances])
    assert moved.uem == ((1.875, original.duration + 1.875),)


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
    assert sum("turn time by confidence: no confidence 100% of it" in line for line in out.splitlines()) == 2


def test_unknown_names_fail_before_anything_runs() -> None:
    with pytest.raises(SystemExit, match="unknown diarizer 'v9'"):
        bench.main(["--sets", "sample", "--diarizers", "local,v9"])
    for old in ("v1", "v2"):  # v1 removed; v2 renamed: the local diarizer is `local` now
        with pytest.raises(SystemExit, match=f"unknown diarizer '{old}'"):
            bench.main(["--sets", "sample", "--diarizers", old])
    with pytest.raises(SystemExit):
        bench.main(["--sets", "nope"])


def test_registry_names_local_an_audio_only_local_and_the_transcripts_own_speakers() -> None:
    assert set(diarizers.DIARIZERS) == {"local", "local-audio", "deepgram"}
    assert diarizers.resolve("local").reads_transcript
    assert not diarizers.resolve("local").needs_transcript
    assert not diarizers.resolve("local-audio").reads_transcript
    assert diarizers.resolve("deepgram").needs_transcript
    assert diarizers.resolve(ORACLE).about == ORACLE


def test_deepgram_turns_the_samples_own_speakers_into_a_diarization(tmp_path: Path) -> None:
    (sample,) = bench.SETS["sample"].build(tmp_path, tmp_path)
    assert sample.transcript is not None
    result = bench.evaluate("sample", [sample], "deepgram")
    (row,) = result["clips"]
    # Every STM line keeps its speaker, so nothing is confused but the overlap its lines leave out;
    # the reference's speech the words do not cover is missed.
    assert row["hypothesis_speakers"] == row["reference_speakers"] == 2
    assert row["confusion"] < 0.02
    assert row["missed"] > 0.1
    utterances = json.loads(sample.transcript.read_text())["results"]["utterances"]
    spoken = sum(utterance["end"] - utterance["start"] for utterance in utterances)
    heard = (1 - row["missed"] + row["false_alarm"]) * row["reference_speech"]
    assert heard == pytest.approx(spoken, abs=0.05)  # the turns are the utterances' spans


def test_a_diarizer_that_needs_a_transcript_skips_sets_without_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (sample,) = bench.SETS["sample"].build(tmp_path, tmp_path)
    silent = dataclasses.replace(sample, transcript=None)
    monkeypatch.setitem(bench.SETS, "no-words", bench.BenchSet("no transcript", lambda _root, _scratch: [silent]))
    ran: list[tuple[str, str]] = []

    def evaluate(set_name: str, clips: list[bench.BenchClip], diarizer: str, **_options: Any) -> dict[str, Any]:
        ran.append((set_name, diarizer))
        return {}

    monkeypatch.setattr(bench, "evaluate", evaluate)
    bench.main(["--sets", "sample,no-words", "--diarizers", "local,deepgram", "--json"])
    assert ran == [("sample", "local"), ("sample", "deepgram"), ("no-words", "local")]
    assert "no-words: deepgram skipped (needs a transcript; the set has none)" in capsys.readouterr().err
    assert not bench.runs_on("deepgram", [sample, silent])
    assert bench.runs_on("deepgram", [sample])
    assert bench.runs_on("local-audio", [silent])


def test_local_runs_by_default(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ran: list[tuple[str, str, int]] = []

    def evaluate(set_name: str, clips: list[bench.BenchClip], diarizer: str, **_options: Any) -> dict[str, Any]:
        ran.append((set_name, diarizer, len(clips)))
        return {}

    monkeypatch.setattr(bench, "evaluate", evaluate)
    bench.main(["--sets", "sample", "--json"])
    assert ran == [("sample", "local", 1)]
    assert list(json.loads(capsys.readouterr().out)["sets"]["sample"]["diarizers"]) == ["local"]


def test_sets_carry_the_transcript_where_there_is_one(tmp_path: Path) -> None:
    (sample,) = bench.SETS["sample"].build(tmp_path, tmp_path)
    assert sample.transcript is not None
    assert sample.transcript.is_file()
    assert sample.reference == tuple(recut.sample_reference())
    assert len({speaker for _, _, speaker in sample.reference}) == 2
    assert sample.uem == ((0.0, sample.duration),)
    episodes = bench.SETS["recut-one-voice"].build(tmp_path, tmp_path)
    assert [clip.clip_id for clip in episodes] == ["seed07", "seed08", "seed09", "seed10"]
    for clip in episodes:
        assert clip.audio.is_file()
        assert clip.transcript is not None
        assert clip.transcript.is_file()
        assert len({speaker for _, _, speaker in clip.reference}) == 1  # one voice
        assert clip.uem == ((0.0, clip.duration),)


def test_the_worker_hands_the_transcript_only_to_diarizers_that_read_it(monkeypatch: pytest.MonkeyPatch) -> None:
    heard: list[tuple[str, str, dict[str, Any]]] = []

    def loader(name: str) -> diarizers.DiarizeFunction:
        def diarize(audio_path: str, **options: Any) -> Turns:
            heard.append((name, audio_path, options))
            return Turns.from_columns([0.0, 1.0], [1.0, 2.5], ["x", "y"], [float("nan"), 0.25])

        return diarize

    monkeypatch.setitem(diarizers.DIARIZERS, "reads", diarizers.Diarizer(lambda: loader("reads"), "", True))
    monkeypatch.setitem(diarizers.DIARIZERS, "deaf", diarizers.Diarizer(lambda: loader("deaf"), "", False))
    clips = [{"id": "c", "audio": "c.wav", "transcript": "c.json", "num_speakers": 2}]
    for name in ("reads", "deaf"):
        result = diarizers.run_job({"diarizer": name, "clips": clips})
        assert result["clips"][0]["id"] == "c"
        assert result["clips"][0]["segments"] == [[0.0, 1.0, "x", None], [1.0, 2.5, "y", 0.25]]
    assert heard == [
        ("reads", "c.wav", {"num_speakers": 2, "transcript_path": "c.json"}),
        ("deaf", "c.wav", {"num_speakers": 2}),
    ]


@pytest.mark.slow
def test_local_diarizes_a_real_meeting_clip_from_audio_alone() -> None:
    (clip, _) = load_split("development", ensure_ami(ROOT / ".eval-data").parent)
    bench_clip = bench.BenchClip(clip.clip_id, clip.audio, 30.0, clip.reference, clip.uem)
    result = bench.evaluate("ami-development", [bench_clip], "local")
    row = result["clips"][0]
    # Development, not test: this checks that it works, it tunes nothing. Calling the whole clip one speaker
    # scores 38.6 % on dev00; the diarizer must tell its two people apart and do better.
    one_speaker = diarization_scores(clip.reference, [(0.0, 30.0, "x")], uem=clip.uem, collar=0.0).der
    assert row["hypothesis_speakers"] >= 2
    assert row["der"] < one_speaker


def test_meeting_voice_episodes_have_an_exact_reference_and_words_inside_it() -> None:
    rng = np.random.default_rng(0)
    pool = {
        name: [meeting_recut.Chunk(name, (rng.standard_normal(int(seconds * recut.RATE)) * 0.1).astype(np.float32))]
        for name, seconds in (("a", 1.0), ("b", 2.0), ("c", 1.5), ("d", 3.0))
    }
    episode = meeting_recut.build_episode(pool, 60.0, seed=3, voices=3)
    again = meeting_recut.build_episode(pool, 60.0, seed=3, voices=3)
    assert np.array_equal(episode.audio, again.audio)
    assert episode.reference == again.reference
    assert len(episode.speakers) == 3
    assert episode.speakers <= set(pool)
    assert {speaker for _, _, speaker in episode.reference} == episode.speakers
    assert episode.duration >= 60.0
    # Speech is where the reference says: none outside it; inside, only the short pauses a turn bridges are quiet.
    frames = episode.audio[: episode.audio.size // 160 * 160].reshape(-1, 160)
    centres = (np.arange(frames.shape[0]) + 0.5) / 100
    touching, inside = np.zeros(centres.size, dtype=bool), np.zeros(centres.size, dtype=bool)
    for start, end, _ in episode.reference:
        touching |= (centres + 0.005 > start) & (centres - 0.005 < end)
        inside |= (centres - 0.005 >= start) & (centres + 0.005 <= end)
    level = np.sqrt((frames**2).mean(axis=1))
    assert level[~touching].max() < 0.01
    assert (level[inside] > 0.03).mean() > 0.8
    # One speaker's turns never overlap another's: a single voice at a time, changes between turns.
    turns = sorted(episode.reference)
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(turns))
    words = episode.transcript["results"]["channels"][0]["alternatives"][0]["words"]
    assert words
    assert all(
        any(start - 1e-3 <= w["start"] and w["end"] <= end + 1e-3 for start, end, _ in episode.reference) for w in words
    )


@pytest.mark.parametrize(("kind", "level_db"), [("noise", -10.0), ("music", -20.0)])
def test_a_background_lies_under_the_episode_at_the_level_asked_and_nobody_new_speaks(
    kind: str, level_db: float
) -> None:
    episode = recut.build_episode(40.0, seed=5)
    noisy = recut.with_background(episode, kind, level_db, seed=5)
    assert noisy.reference == episode.reference
    assert noisy.transcript == episode.transcript
    assert noisy.audio.dtype == np.float32
    assert noisy.audio.size == episode.audio.size
    assert np.array_equal(recut.with_background(episode, kind, level_db, seed=5).audio, noisy.audio)
    speaking = np.zeros(episode.audio.size, dtype=bool)
    for start, end, _ in episode.reference:
        speaking[round(start * recut.RATE) : round(end * recut.RATE)] = True
    background = noisy.audio.astype(np.float64) - episode.audio

    def rms(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.square(x))))

    assert 20 * np.log10(rms(background) / rms(episode.audio[speaking])) == pytest.approx(level_db, abs=0.2)
    # Steady: as loud in the pauses as under the speech.
    assert rms(background[~speaking]) == pytest.approx(rms(background[speaking]), rel=0.2)
    with pytest.raises(ValueError, match="kind must be one of"):
        recut.with_background(episode, "traffic", -20.0)


def test_theme_music_opens_and_closes_the_episode_and_everything_said_moves_past_it() -> None:
    episode = recut.build_episode(30.0, seed=6)
    themed = recut.with_theme_music(episode, 5.0, -6.0, seed=6)
    size = round(5.0 * recut.RATE)
    assert themed.audio.size == episode.audio.size + 2 * size
    assert np.array_equal(themed.audio[size:-size], episode.audio)
    assert themed.reference == [(start + 5.0, end + 5.0, who) for start, end, who in episode.reference]
    words = episode.transcript["results"]["channels"][0]["alternatives"][0]["words"]
    moved = themed.transcript["results"]["channels"][0]["alternatives"][0]["words"]
    assert [w["start"] for w in moved] == pytest.approx([w["start"] + 5.0 for w in words])
    utterances = themed.transcript["results"]["utterances"]
    assert utterances[0]["start"] == pytest.approx(episode.transcript["results"]["utterances"][0]["start"] + 5.0)
    assert utterances[0]["words"][0]["start"] == pytest.approx(moved[0]["start"])  # each shifted once
    assert words[0]["start"] < 5.0 <= moved[0]["start"]  # the episode itself is untouched
    speaking = np.zeros(episode.audio.size, dtype=bool)
    for start, end, _ in episode.reference:
        speaking[round(start * recut.RATE) : round(end * recut.RATE)] = True
    speech_rms = float(np.sqrt(np.mean(np.square(episode.audio[speaking], dtype=np.float64))))
    music = np.concatenate([themed.audio[:size], themed.audio[-size:]]).astype(np.float64)
    assert 20 * np.log10(float(np.sqrt(np.mean(np.square(music)))) / speech_rms) == pytest.approx(-6.0, abs=0.1)


def test_the_long_episode_benchmark_scores_what_the_worker_returns(capsys: pytest.CaptureFixture[str]) -> None:
    import bench_local_diarizer

    sample = recut.SAMPLES / "sample.wav"
    bench_local_diarizer.run(
        "sample", sample, sample.with_suffix(".deepgram.json"), recut.sample_reference(), 30.0, ORACLE
    )
    bench_local_diarizer.run(
        "sample", sample, sample.with_suffix(".deepgram.json"), recut.sample_reference(), 30.0, LATE
    )
    oracle, late = capsys.readouterr().out.splitlines()
    assert "speakers 2 | DER 0.0% (FA 0.0%, miss 0.0%, conf 0.0%)" in oracle
    assert "DER 0.0%" not in late
    assert "speakers 2" in late


def test_episodes_one_after_another_report_the_workers_memory_after_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import bench_local_diarizer

    bench_local_diarizer.run_one_after_another(3, tmp_path, ORACLE)
    bench_local_diarizer.run_one_after_another(2, tmp_path, LATE)
    oracle, late = capsys.readouterr().out.splitlines()
    assert oracle.startswith(f"{ORACLE} 3 episodes of 150 s in one worker: resident MB after each (1: ")
    assert ", 2: " in oracle
    assert ", 3: " in oracle
    assert oracle.endswith("DER 0.0%")
    assert "DER 0.0%" not in late
    result = diarizers.run_in_worker(ORACLE, [{"id": "a", "audio": str(tmp_path / "episode001.wav")}])
    assert result["clips"][0]["rss_after_mb"] > 0
