"""Benchmark: diarizers side by side on real meeting clips, the sample and the re-cut suites.

For every set and every diarizer it prints, per clip and in total: DER at collar 0 with
overlapped speech scored, inside the set's UEM, its three parts (false alarm, missed
speech, confusion), JER, and the reference and found speaker counts; then the
diarizer's real-time factor (diarize wall time / audio time, model loading excluded),
its CPU seconds per audio second (all its threads: other work on the machine inflates
the wall time far more than this) and its peak RSS. Each diarizer runs each set in a
process of its own (benchmarks/diarizers.py), so the memory is its own. Scores come
from pyannote.metrics; totals are accumulated as pyannote.metrics does (sum of errors /
sum of reference speech; JER averaged over every clip's reference speakers).

Sets:
  ami-train, ami-development, ami-test  14 real 30 s AMI meeting clips (``make eval-data``
                                        fetches them; fetched here too when missing)
  ami-train-alignments,                 clips heard at four window alignments (0.625 s of
  ami-dev-test-alignments,              silence apart before each clip): DER per alignment,
  sample-alignments, recut-alignments   its range and mean (how much of a figure is chance)
  sample                                the bundled 30 s two-speaker sample
  recut, recut-overlap, recut-one-voice episodes re-cut from the sample's real turns
                                        (tests/recut.py), as in docs/local-diarizer.md
  recut-interview, recut-monologues     the sample's two alike voices as an interview (one
                                        speaker's turns short) and as long monologues
  meeting-voices                        three and four meeting voices re-cut as a podcast
                                        (tests/meeting_recut.py)
  recut-noisy                           re-cut with pink noise or a music bed under the speech
  recut-held-out                        re-cut unlike those, never tuned on
  recut-noisy-held-out                  other noise and music levels, never tuned on
  recut-theme-music                     music before and after the talk, never tuned on
  recut-meeting-voices                  three and four other meeting voices, never tuned on
                                        (two of its voices speak in train clips)

Split discipline: tune on ami-train, check on ami-development, report ami-test and never
tune on it. A few of the local diarizer's choices (how far a second voice reaches around a
turn change, the confidence vote) were made on the sample and the re-cut suites, so for those
only the AMI sets, recut-held-out and recut-meeting-voices are held out (docs/local-diarizer.md).

Run: ``.venv/bin/python benchmarks/bench_diarization.py [--sets ami-train,sample]
[--diarizers local,local-audio,deepgram] [--oracle-speakers] [--json]`` (or ``make bench-diarization``).
``deepgram`` (the transcript's own speakers, no audio) runs only on the sets with a transcript.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from tests import meeting_recut, recut  # noqa: E402

import diarizers  # noqa: E402
from diarflow.adapters.diarizers.local.audio import stream_audio  # noqa: E402
from diarflow.domain.diarization_metrics import DiarizationScorer, Span, Turn, turn_accuracy  # noqa: E402
from diarflow.eval_data import DEFAULT_ROOT, Split, ensure_ami, load_split, wav_duration  # noqa: E402


@dataclass(frozen=True)
class BenchClip:
    """One input: audio, its reference and UEM, and the Deepgram-shaped transcript when there is one."""

    clip_id: str
    audio: Path
    duration: float
    reference: tuple[Turn, ...]
    uem: tuple[Span, ...]
    transcript: Path | None = None
    group: str = ""
    """Clips of one group are totalled together too (a set's clips heard at several window alignments)."""


@dataclass(frozen=True)
class BenchSet:
    about: str
    build: Callable[[Path, Path], list[BenchClip]]
    """``(eval-data root, scratch folder) -> clips``."""


def _ami(split: Split) -> Callable[[Path, Path], list[BenchClip]]:
    def build(data_root: Path, scratch: Path) -> list[BenchClip]:
        ensure_ami(data_root)
        return [
            BenchClip(clip.clip_id, clip.audio, wav_duration(clip.audio), clip.reference, clip.uem)
            for clip in load_split(split, data_root)
        ]

    return build


def _sample(data_root: Path, scratch: Path) -> list[BenchClip]:
    audio = recut.SAMPLES / "sample.wav"
    duration = wav_duration(audio)
    reference = tuple(recut.sample_reference())
    return [BenchClip("sample", audio, duration, reference, ((0.0, duration),), recut.SAMPLES / "sample.deepgram.json")]


def _episode_clip(episode: recut.Episode, seed: int, scratch: Path) -> BenchClip:
    """A built episode written to ``scratch`` as ``seed<NN>``, scored over its whole length."""
    name = f"seed{seed:02d}"
    audio, _, transcript = episode.write(scratch, name)
    return BenchClip(name, audio, episode.duration, tuple(episode.reference), ((0.0, episode.duration),), transcript)


def _recut(seeds: Sequence[int], seconds: float, **options: Any) -> Callable[[Path, Path], list[BenchClip]]:
    def build(data_root: Path, scratch: Path) -> list[BenchClip]:
        return [_episode_clip(recut.build_episode(seconds, seed=seed, **options), seed, scratch) for seed in seeds]

    return build


def _recut_changed(
    change: Callable[..., recut.Episode], plan: Sequence[tuple[Any, ...]]
) -> Callable[[Path, Path], list[BenchClip]]:
    """150 s re-cut episodes, each made ``change(episode, *arguments, seed=seed)``: ``plan`` is (seed,
    *arguments) per episode (:func:`recut.with_background`: kind and level; :func:`recut.with_theme_music`:
    seconds and level)."""

    def build(data_root: Path, scratch: Path) -> list[BenchClip]:
        return [
            _episode_clip(change(recut.build_episode(150.0, seed=seed), *arguments, seed=seed), seed, scratch)
            for seed, *arguments in plan
        ]

    return build


ALIGNMENTS = (0.0, 0.625, 1.25, 1.875)
"""Seconds of silence put before a clip: a quarter of the local diarizer's 2.5 s window step apart, so its
windows fall on the speech at four different places."""


def _aligned(*sets: Callable[[Path, Path], list[BenchClip]]) -> Callable[[Path, Path], list[BenchClip]]:
    """The sets' clips after every amount of silence in :data:`ALIGNMENTS`, grouped by it.

    A 30 s clip's DER moves by points with where the windows fall (which speech a window holds whole, which it
    cuts), so a figure of one alignment holds that much chance; these sets measure how much. The reference,
    the UEM and the transcript's times move with the audio.
    """

    def build(data_root: Path, scratch: Path) -> list[BenchClip]:
        clips = [clip for build_set in sets for clip in build_set(data_root, scratch)]
        return [delayed(clip, seconds, scratch) for seconds in ALIGNMENTS for clip in clips]

    return build


def delayed(clip: BenchClip, seconds: float, scratch: Path) -> BenchClip:
    """``clip`` after ``seconds`` of silence (audio written to ``scratch``), grouped as ``+<seconds> s``."""
    label = f"+{seconds:g} s"
    name = f"{clip.clip_id}+{seconds:g}s"
    if not seconds:
        return replace(clip, clip_id=name, group=label)
    audio = scratch / f"{name}.wav"
    duration = clip.duration + seconds
    silence = np.zeros(round(seconds * recut.RATE), dtype=np.float32)
    recut.write_wav(audio, np.concatenate([silence, *stream_audio(clip.audio)]))
    transcript = None
    if clip.transcript is not None:
        transcript = scratch / f"{name}.deepgram.json"
        moved = recut.transcript_moved(json.loads(clip.transcript.read_text()), seconds, duration=duration)
        transcript.write_text(json.dumps(moved))
    return BenchClip(
        name,
        audio,
        duration,
        tuple((start + seconds, end + seconds, who) for start, end, who in clip.reference),
        tuple((start + seconds, end + seconds) for start, end in clip.uem),
        transcript,
        group=label,
    )


def _recut_held_out(data_root: Path, scratch: Path) -> list[BenchClip]:
    """Episodes re-cut unlike any set a choice was made on: long turns, short turns only, overlapped."""
    variants = [
        _recut(range(40, 42), 150.0, long_turns=0.6),
        _recut(range(42, 44), 150.0, long_turns=0.0),
        _recut(range(44, 46), 150.0, long_turns=0.5, overlap=0.3),
    ]
    return [clip for build in variants for clip in build(data_root, scratch)]


def _meeting_voices(
    voices: Mapping[str, tuple[str, ...]], plan: Sequence[tuple[int, int]]
) -> Callable[[Path, Path], list[BenchClip]]:
    """Episodes of three or four meeting voices (tests/meeting_recut.py): ``plan`` is (seed, voices) per episode."""

    def build(data_root: Path, scratch: Path) -> list[BenchClip]:
        ensure_ami(data_root)
        pool = meeting_recut.voice_pool(data_root, voices)
        return [
            _episode_clip(meeting_recut.build_episode(pool, 150.0, seed=seed, voices=count), seed, scratch)
            for seed, count in plan
        ]

    return build


_RECUT = _recut([*range(1, 7), *range(8, 15)], 150.0)
"""The `recut` set's episodes: 150 s, seeds 1-6 and 8-14."""

SETS: dict[str, BenchSet] = {
    "ami-train": BenchSet("AMI train split: 10 real meeting clips, 30 s, 1-4 speakers", _ami("train")),
    "ami-development": BenchSet("AMI development split: 2 clips", _ami("development")),
    "ami-test": BenchSet("AMI test split: 2 clips (report only; never tune on it)", _ami("test")),
    "ami-train-alignments": BenchSet(
        "AMI train split heard at four window alignments (0, 0.625, 1.25, 1.875 s of silence before each clip)",
        _aligned(_ami("train")),
    ),
    "ami-dev-test-alignments": BenchSet(
        "AMI development and test splits together, at the same four window alignments (report only)",
        _aligned(_ami("development"), _ami("test")),
    ),
    "sample": BenchSet("the bundled sample: 30 s, 2 speakers, telephone band", _sample),
    "sample-alignments": BenchSet(
        "the sample at the same four window alignments, its transcript's times moved with it", _aligned(_sample)
    ),
    "recut": BenchSet("re-cut episodes, 150 s, seeds 1-6 and 8-14", _RECUT),
    "recut-alignments": BenchSet(
        "the recut episodes at the same four window alignments: is a podcast-length figure chance too?",
        _aligned(_RECUT),
    ),
    "recut-overlap": BenchSet(
        "re-cut, half the turn changes overlapped 0.15-0.6 s, 150 s, seeds 21-26",
        _recut(range(21, 27), 150.0, overlap=0.5),
    ),
    "recut-one-voice": BenchSet(
        "re-cut from one voice, 90 s, seeds 7-10", _recut(range(7, 11), 90.0, speakers=("Diane",))
    ),
    "recut-held-out": BenchSet(
        "re-cut unlike the sets above, never tuned on: 150 s, seeds 40-41 long turns (60 %), 42-43 short turns"
        " only, 44-45 30 % of changes overlapped",
        _recut_held_out,
    ),
    "recut-interview": BenchSet(
        "re-cut as an interview: Diane's turns 5-12 s, Sheila's questions 0.8-2 s, 150 s, seeds 80-85",
        _recut(range(80, 86), 150.0, turn_seconds={"Diane": (5.0, 12.0), "Sheila": (0.8, 2.0)}),
    ),
    "recut-monologues": BenchSet(
        "re-cut as long monologues: turns of 20-40 s, 300 s, seeds 90-93",
        _recut(range(90, 94), 300.0, turn_seconds={"Diane": (20.0, 40.0), "Sheila": (20.0, 40.0)}),
    ),
    "recut-noisy": BenchSet(
        "re-cut with a background, 150 s: seeds 101-104 pink noise at 20 dB SNR, 105-108 at 10 dB, 109-112 a"
        " music bed (chords) 20 dB under the speech",
        _recut_changed(
            recut.with_background,
            [(seed, "noise", -20.0) for seed in range(101, 105)]
            + [(seed, "noise", -10.0) for seed in range(105, 109)]
            + [(seed, "music", -20.0) for seed in range(109, 113)],
        ),
    ),
    "recut-noisy-held-out": BenchSet(
        "re-cut with a background, never tuned on, 150 s: seeds 121-122 pink noise at 15 dB SNR, 123-124 a music"
        " bed 25 dB under the speech, 125-126 15 dB under",
        _recut_changed(
            recut.with_background,
            [(seed, "noise", -15.0) for seed in (121, 122)]
            + [(seed, "music", -25.0) for seed in (123, 124)]
            + [(seed, "music", -15.0) for seed in (125, 126)],
        ),
    ),
    "recut-theme-music": BenchSet(
        "re-cut between 20 s of theme music before and after, never tuned on, 150 s + 40 s: seeds 131-132 music"
        " as loud as the speech, 133-134 6 dB under",
        _recut_changed(
            recut.with_theme_music, [(131, 20.0, 0.0), (132, 20.0, 0.0), (133, 20.0, -6.0), (134, 20.0, -6.0)]
        ),
    ),
    "meeting-voices": BenchSet(
        "3-4 meeting voices (five train speakers' solo speech) re-cut as a podcast, 150 s, seeds 70-72 three voices,"
        " 73-75 four",
        _meeting_voices(meeting_recut.TUNING_VOICES, ((70, 3), (71, 3), (72, 3), (73, 4), (74, 4), (75, 4))),
    ),
    "recut-meeting-voices": BenchSet(
        "3-4 other meeting voices (development's two, two train speakers no tuning episode holds) re-cut as a"
        " podcast, 150 s, never tuned on: seeds 60-62 three voices, 63-65 four",
        _meeting_voices(meeting_recut.HELD_OUT_VOICES, ((60, 3), (61, 3), (62, 3), (63, 4), (64, 4), (65, 4))),
    ),
}


# --- running and scoring -----------------------------------------------------------------------


def evaluate(set_name: str, clips: list[BenchClip], diarizer: str, *, oracle_speakers: bool = False) -> dict[str, Any]:
    """Run one diarizer on one set in its own process and score it: per-clip rows, total, RTF, RSS."""
    jobs = [
        {
            "id": clip.clip_id,
            "audio": str(clip.audio),
            "transcript": str(clip.transcript) if clip.transcript else None,
            "num_speakers": len({speaker for _, _, speaker in clip.reference}) if oracle_speakers else None,
        }
        for clip in clips
    ]
    print(f"running {diarizer} on {set_name} ({len(clips)} clips)…", file=sys.stderr, flush=True)
    result = diarizers.run_in_worker(diarizer, jobs)
    scorer = DiarizationScorer(collar=0.0)
    groups = {clip.group: DiarizationScorer(collar=0.0) for clip in clips if clip.group}
    rows = []
    judged: list[tuple[float | None, float, float]] = []  # (confidence, seconds, seconds right) per turn
    for clip, output in zip(clips, result["clips"], strict=True):
        hypothesis = diarizers.turns_of(output)
        scores = scorer.score(clip.reference, hypothesis, uem=clip.uem)
        if clip.group:
            groups[clip.group].score(clip.reference, hypothesis, uem=clip.uem)
        rows.append({"clip": clip.clip_id, **asdict(scores), "diarize_seconds": output["diarize_seconds"]})
        accuracy = turn_accuracy(clip.reference, hypothesis, uem=clip.uem)
        judged += [(segment[3], *seconds) for segment, seconds in zip(output["segments"], accuracy, strict=True)]
    audio_seconds = sum(clip.duration for clip in clips)
    diarize_seconds = sum(output["diarize_seconds"] for output in result["clips"])
    cpu_seconds = sum(output["diarize_cpu_seconds"] for output in result["clips"])
    total = scorer.total()
    return {
        "clips": rows,
        "total": asdict(total),
        "groups": {label: asdict(group.total()) for label, group in groups.items()},
        "speaker_count_right": sum(row["reference_speakers"] == row["hypothesis_speakers"] for row in rows),
        "confidence_bands": confidence_bands(judged),
        "audio_seconds": audio_seconds,
        "diarize_seconds": diarize_seconds,
        "rtf": diarize_seconds / audio_seconds,
        "cpu_seconds_per_audio_second": cpu_seconds / audio_seconds,
        "load_seconds": result["load_seconds"],
        "peak_rss_mb": result["peak_rss_mb"],
    }


def runs_on(diarizer: str, clips: Sequence[BenchClip]) -> bool:
    """Whether ``diarizer`` can run on these clips: one that needs a transcript only where every clip has one."""
    return not diarizers.resolve(diarizer).needs_transcript or all(clip.transcript for clip in clips)


CONFIDENCE_BANDS = ((0.99, "certain (>= 0.99)"), (0.5, "0.5-0.99"), (0.0, "under 0.5"))
"""Turn confidence bands, from the top: a turn falls in the first whose floor it reaches."""


def confidence_band(confidence: float | None) -> str:
    if confidence is None:
        return "no confidence"
    return next(label for floor, label in CONFIDENCE_BANDS if confidence >= floor)


def confidence_bands(judged: list[tuple[float | None, float, float]]) -> list[dict[str, Any]]:
    """Turn time per confidence band, and the share of it whose speaker is right: does confidence foretell errors?

    ``judged``: (confidence, seconds, seconds right) per turn. Bands with no turn are left out.
    """
    total = sum(seconds for _, seconds, _ in judged)
    sums: dict[str, list[float]] = {}
    for confidence, seconds, right in judged:
        band = sums.setdefault(confidence_band(confidence), [0, 0.0, 0.0])
        band[0] += 1
        band[1] += seconds
        band[2] += right
    order = [label for _, label in CONFIDENCE_BANDS] + ["no confidence"]
    return [
        {
            "band": label,
            "turns": int(sums[label][0]),
            "seconds": sums[label][1],
            "share_of_turn_time": sums[label][1] / total if total else 0.0,
            "right": sums[label][2] / sums[label][1] if sums[label][1] else None,
        }
        for label in order
        if label in sums
    ]


# --- printing ------------------------------------------------------------------------------------

COLUMNS = f"{'DER':>7} {'FA':>6} {'miss':>6} {'conf':>6} {'JER':>7} {'ref':>4} {'found':>5}"


def score_cells(scores: dict[str, Any]) -> str:
    """One row's scores under :data:`COLUMNS`."""
    s = scores
    return (
        f"{s['der']:>7.1%} {s['false_alarm']:>6.1%} {s['missed']:>6.1%} {s['confusion']:>6.1%} "
        f"{s['jer']:>7.1%} {s['reference_speakers']:>4} {s['hypothesis_speakers']:>5}"
    )


def print_set(set_name: str, about: str, results: dict[str, dict[str, Any]]) -> None:
    """Per clip, every diarizer's row one under the other; then each diarizer's total."""
    first = next(iter(results.values()))
    print(f"\n== {set_name}: {about} ({len(first['clips'])} clips, {first['audio_seconds']:.0f} s) ==")
    width = max(len("clip"), len("total"), *(len(row["clip"]) for row in first["clips"]))
    print(f"{'clip':<{width}} {'diarizer':<11} {COLUMNS}")
    for index, row in enumerate(first["clips"]):
        for position, (name, result) in enumerate(results.items()):
            print(f"{row['clip'] if position == 0 else '':<{width}} {name:<11} {score_cells(result['clips'][index])}")
    for name, result in results.items():
        print(
            f"{'total':<{width}} {name:<11} {score_cells(result['total'])}"
            f"  count right {result['speaker_count_right']}/{len(result['clips'])}"
            f"  RTF {result['rtf']:.4f} (CPU {result['cpu_seconds_per_audio_second']:.4f})"
            f"  peak RSS {result['peak_rss_mb']:.0f} MB  (load {result['load_seconds']:.1f} s)"
        )
        bands = "; ".join(
            f"{band['band']} {band['share_of_turn_time']:.0%} of it, "
            + (f"{band['right']:.1%} right" if band["right"] is not None else "none of it scored")
            for band in result["confidence_bands"]
        )
        print(f"{'':<{width}} {name:<11} turn time by confidence: {bands}")
        if result["groups"]:
            ders = [group["der"] for group in result["groups"].values()]
            each = ", ".join(f"{label} {group['der']:.1%}" for label, group in result["groups"].items())
            print(
                f"{'':<{width}} {name:<11} by group: {each}; "
                f"range {min(ders):.1%}-{max(ders):.1%}, mean {sum(ders) / len(ders):.1%}"
            )


def print_summary(report: dict[str, Any]) -> None:
    print("\n== totals (DER at collar 0, overlap scored, inside the UEM; speakers summed over clips) ==")
    width = max([len("set"), *(len(set_name) for set_name in report["sets"])])
    print(f"{'set':<{width}} {'diarizer':<11} {COLUMNS}  {'count right':>11} {'RTF':>7} {'CPU/s':>7} {'peak RSS':>9}")
    for set_name, entry in report["sets"].items():
        for name, result in entry["diarizers"].items():
            right = f"{result['speaker_count_right']}/{len(result['clips'])}"
            print(
                f"{set_name:<{width}} {name:<11} {score_cells(result['total'])}  {right:>11} "
                f"{result['rtf']:>7.4f} {result['cpu_seconds_per_audio_second']:>7.4f} {result['peak_rss_mb']:>6.0f} MB"
            )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of: {', '.join(SETS)} (default all)")
    parser.add_argument(
        "--diarizers",
        default="local",
        help=f"comma-separated: {', '.join(diarizers.DIARIZERS)}, or package.module:function (default local)",
    )
    parser.add_argument("--oracle-speakers", action="store_true", help="tell each diarizer the reference count")
    parser.add_argument("--data", type=Path, default=ROOT / DEFAULT_ROOT, help="eval-data folder (make eval-data)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    args = parser.parse_args(argv)
    set_names = [name for name in args.sets.split(",") if name]
    unknown = [name for name in set_names if name not in SETS]
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}: choose from {', '.join(SETS)}")
    names = [name for name in args.diarizers.split(",") if name]
    for name in names:
        diarizers.resolve(name)  # an unknown name fails now, not after the first set has run

    report: dict[str, Any] = {
        "collar": 0.0,
        "overlap_scored": True,
        "oracle_speakers": args.oracle_speakers,
        "cores": os.cpu_count(),
        "load_average_before": os.getloadavg()[0],
        "sets": {},
    }
    if report["load_average_before"] > (os.cpu_count() or 1):
        # Other work on the cores slows torch's threads far more than its share (docs/local-diarizer.md).
        print(
            f"warning: load average {report['load_average_before']:.1f} on {os.cpu_count()} cores: "
            "real-time factors will read high",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory(prefix="diarflow-bench-sets-") as scratch:
        for set_name in set_names:
            bench_set = SETS[set_name]
            folder = Path(scratch) / set_name
            folder.mkdir()
            clips = bench_set.build(args.data, folder)
            runnable = [name for name in names if runs_on(name, clips)]
            skipped = sorted(set(names) - set(runnable))
            if skipped:
                needs = "needs a transcript; the set has none"
                print(f"{set_name}: {', '.join(skipped)} skipped ({needs})", file=sys.stderr)
            if not runnable:
                continue
            results = {name: evaluate(set_name, clips, name, oracle_speakers=args.oracle_speakers) for name in runnable}
            report["sets"][set_name] = {"about": bench_set.about, "diarizers": results}
            if not args.json:
                print_set(set_name, bench_set.about, results)
    report["load_average_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_summary(report)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
