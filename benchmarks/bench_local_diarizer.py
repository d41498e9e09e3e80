"""Benchmark: the offline diarizer on the 30 s sample and on long episodes built from the sample's real turns.

For each input it prints the real-time factor (wall time / audio time), the
diarizer process's peak RSS, the speaker count and DER at collar 0 against
the matching reference. Each run is a separate process, so peak RSS is the
diarizer's own and not the episode builder's.

Long episodes are built in 10-minute blocks (each a re-cut episode of its own
seed) appended to a 16-bit WAV on disk, so building 6.7 hours holds one block
in memory, never the whole episode (6.7 h of float32 samples would be 1.5 GB);
the file itself is ~770 MB in the temp directory.

Run: ``.venv/bin/python benchmarks/bench_local_diarizer.py [--hours 1 6.7] [--format wav|mp3]``
(``--minutes N`` is the older spelling of one length; needs ``diarflow[local,eval]`` and
``pip install --no-deps resemblyzer==0.1.4``). Targets: RTF <= 0.05, peak RSS <= 2 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
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

CHILD = r"""
import json, resource, sys, time
from diarflow.adapters.diarizers.base import DiarizationJob
from diarflow.adapters.diarizers.local import load_local_diarizer
from diarflow.domain.transcript import parse_transcript
def peak_rss_mb():
    # VmHWM is this program's own peak: ru_maxrss would also count the parent's pages the
    # process held between fork and exec (the parent holds the built episode).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
audio, transcript_path, out = sys.argv[1:4]
started = time.perf_counter()
diarizer = load_local_diarizer(progress=True)
loaded = time.perf_counter()
transcript = parse_transcript(open(transcript_path, "rb").read())
output = diarizer.diarize(DiarizationJob("BENCH", audio, transcript))
finished = time.perf_counter()
json.dump({"segments": output.turns.to_segments(), "load_s": loaded - started, "diarize_s": finished - loaded,
           "speakers": output.turns.num_speakers,
           "peak_rss_mb": peak_rss_mb()}, open(out, "w"))
"""


def run(name: str, audio: Path, transcript: Path, reference: list[tuple[float, float, str]], duration: float) -> None:
    result, wall = run_child(CHILD, audio, transcript)
    print(
        f"{name:>10}: audio {duration / 60:6.1f} min | RTF {result['diarize_s'] / duration:.4f} "
        f"(diarize {result['diarize_s']:.1f} s, model load {result['load_s']:.1f} s, process {wall:.1f} s) | "
        f"peak RSS {result['peak_rss_mb']:.0f} MB | speakers {result['speakers']} | "
        f"DER {der_text(reference, result['segments'])}"
    )


def run_child(child: str, audio: Path, transcript: Path) -> tuple[dict[str, Any], float]:
    """Run ``child`` (a script writing JSON to its third argument) in its own process: its output, wall seconds."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.json"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", child, str(audio), str(transcript), str(out)], check=True)
        wall = time.perf_counter() - started
        result: dict[str, Any] = json.loads(out.read_text())
    return result, wall


def der_text(reference: list[tuple[float, float, str]], segments: list[dict[str, Any]]) -> str:
    """DER at collar 0 of raw-diarization ``segments`` against ``reference``, with its parts."""
    from diarflow.domain.diarization_metrics import diarization_scores

    hypothesis = [(s["start"], s["end"], s["speaker"]) for s in segments]
    scores = diarization_scores(reference, hypothesis, collar=0.0)
    return f"{scores.der:.1%} (FA {scores.false_alarm:.1%}, miss {scores.missed:.1%}, conf {scores.confusion:.1%})"


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


def _shift_words(words: list[dict[str, Any]], offset: float) -> list[dict[str, Any]]:
    return [{**w, "start": round(w["start"] + offset, 3), "end": round(w["end"] + offset, 3)} for w in words]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, nargs="+", help="lengths of the built episodes in hours (e.g. 1 6.7)")
    parser.add_argument("--minutes", type=float, default=60.0, help="one built episode of this length (default 60)")
    parser.add_argument("--format", choices=("wav", "mp3"), default="wav", help="container of the built episodes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-sample", action="store_true", help="do not run the 30 s sample first")
    args = parser.parse_args()

    if not args.skip_sample:
        run(
            "sample",
            recut.SAMPLES / "sample.wav",
            recut.SAMPLES / "sample.deepgram.json",
            recut.sample_reference(),
            30.0,
        )
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
            run(f"{seconds / 3600:g} h", audio, transcript, reference, duration)


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
