"""Benchmark: the offline diarizer on the 30 s sample and on an hour built from the sample's real turns.

For each input it prints the real-time factor (wall time / audio time), the
diarizer process's peak RSS, the speaker count and DER at collar 0 against
the matching reference. Each run is a separate process, so peak RSS is the
diarizer's own and not the episode builder's.

Run: ``.venv/bin/python benchmarks/bench_local_diarizer.py [--minutes 60] [--format wav|mp3]``
(needs ``diarflow[local,eval]`` and ``pip install --no-deps resemblyzer==0.1.4``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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
    from diarflow.domain.diarization_metrics import diarization_scores

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.json"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", CHILD, str(audio), str(transcript), str(out)], check=True)
        wall = time.perf_counter() - started
        result = json.loads(out.read_text())
    hypothesis = [(s["start"], s["end"], s["speaker"]) for s in result["segments"]]
    scores = diarization_scores(reference, hypothesis, collar=0.0)
    print(
        f"{name:>10}: audio {duration / 60:6.1f} min | RTF {result['diarize_s'] / duration:.4f} "
        f"(diarize {result['diarize_s']:.1f} s, model load {result['load_s']:.1f} s, process {wall:.1f} s) | "
        f"peak RSS {result['peak_rss_mb']:.0f} MB | speakers {result['speakers']} | "
        f"DER {scores.der:.1%} (FA {scores.false_alarm:.1%}, miss {scores.missed:.1%}, conf {scores.confusion:.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="length of the built episode (default 60)")
    parser.add_argument("--format", choices=("wav", "mp3"), default="wav", help="container of the built episode")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    run(
        "sample",
        recut.SAMPLES / "sample.wav",
        recut.SAMPLES / "sample.deepgram.json",
        recut.sample_reference(),
        30.0,
    )
    with tempfile.TemporaryDirectory() as folder:
        episode = recut.build_episode(args.minutes * 60, seed=args.seed)
        wav, _, transcript = episode.write(Path(folder), "hour")
        audio = wav
        if args.format == "mp3":
            audio = Path(folder) / "hour.mp3"
            _encode_mp3(wav, audio)
        reference, duration = episode.reference, episode.duration
        del episode  # the diarizer runs in its own process; free the builder's copy first
        run(f"{args.minutes:g} min", audio, transcript, reference, duration)


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
