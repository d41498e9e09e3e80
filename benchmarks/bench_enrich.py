"""Benchmark: enrichment of a 6.7-hour episode (80,000 words, 4,000 turns, 5 speakers).

Prints, measured in one run on this machine:
- the floor: a bare ``json.load`` of the transcript (reading the input once);
- alignment alone (vectorised) and its speed-up over the per-word reference;
- the enrich step (read transcript and diarization from the store, align, write enriched);
- the whole ``diarflow run`` as a separate process, and its peak RSS.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_enrich.py [--words N --turns N]``.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reference_alignment import reference_align

import diarflow
from diarflow.adapters.stores import LocalStore
from diarflow.config import Settings
from diarflow.contracts.step_args import DiarizeArgs, EnrichArgs, IdentifyArgs, InspectArgs
from diarflow.domain.alignment import align_words
from diarflow.domain.clusters import cluster_turns
from diarflow.domain.fallback import turns_from_transcript
from diarflow.domain.transcript import parse_transcript
from diarflow.orchestration import stages
from diarflow.orchestration.workspace import Workspace
from diarflow.samples.synthetic import synthetic_deepgram

TARGETS = {"alignment": 0.03, "enrich step": 1.0, "run/floor": 4.0, "peak RSS MB": 400}


def best_of(repeats: int, fn: object) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=int, default=80_000)
    parser.add_argument("--turns", type=int, default=4_000)
    parser.add_argument("--speakers", type=int, default=5)
    parser.add_argument("--reference-sample", type=int, default=2_000, help="words timed with the per-word reference")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="diarflow-bench-"))
    document = synthetic_deepgram(
        num_words=args.words, num_turns=args.turns, num_speakers=args.speakers, seed=7, word_seconds=0.21
    )
    transcript_path = workdir / "episode.json"
    data = orjson.dumps(document)
    transcript_path.write_bytes(data)
    hours = document["metadata"]["duration"] / 3600
    print(
        f"episode: {args.words:,} words, {args.turns:,} turns, {args.speakers} speakers, "
        f"{hours:.1f} h, transcript {len(data) / 1e6:.1f} MB"
    )

    def load_floor() -> None:
        with transcript_path.open() as handle:
            json.load(handle)

    floor = best_of(5, load_floor)
    print(f"floor  json.load of the transcript        {floor:8.3f} s")

    transcript = parse_transcript(data)
    turns = turns_from_transcript(transcript)
    clusters = cluster_turns(turns)
    by_name = {c.speaker_key: c.confidence for c in clusters}
    weights = np.array([by_name[name] for name in turns.speaker_names], dtype=float)
    alignment_time = best_of(5, lambda: align_words(transcript.starts, transcript.ends, turns, weights))
    print(f"align  vectorised alignment                {alignment_time:8.4f} s   (target <= {TARGETS['alignment']} s)")

    sample = args.reference_sample
    word_pairs = list(zip(transcript.starts[:sample].tolist(), transcript.ends[:sample].tolist(), strict=True))
    turn_list = list(zip(turns.starts.tolist(), turns.ends.tolist(), turns.speakers.tolist(), strict=True))
    began = time.perf_counter()
    reference_align(word_pairs, turn_list, len(turns.speaker_names), weights.tolist(), gap_tolerance=1.0, margin=0.15)
    reference_time = (time.perf_counter() - began) * args.words / sample
    print(
        f"       per-word reference (extrapolated)   {reference_time:8.1f} s   "
        f"speed-up x{reference_time / alignment_time:,.0f} (timed on {sample:,} words)"
    )

    store = LocalStore(workdir / "store")
    settings = Settings.from_env({})
    ws = Workspace(store=store, settings=settings)
    store.put_bytes("transcripts/BENCH/deepgram.json", data)
    info = stages.inspect_transcript(
        ws, InspectArgs(episode_id="BENCH", transcript_key="transcripts/BENCH/deepgram.json")
    )
    diarization = stages.diarize("deepgram", ws, DiarizeArgs(episode_id="BENCH", transcript=info.ref))
    audit = stages.identify_speakers(ws, IdentifyArgs(episode_id="BENCH", diarization=diarization.ref))
    enrich_args = EnrichArgs(episode_id="BENCH", transcript=info.ref, diarization=diarization.ref, audit=audit.ref)

    def enrich_step() -> None:
        fresh = Workspace(store=store, settings=settings)  # no memo: read everything from the store
        stages.enrich_transcript(fresh, enrich_args)

    enrich_time = best_of(3, enrich_step)
    enriched_mb = len(store.get_bytes("diarization/BENCH.enriched.json")) / 1e6
    print(
        f"enrich step (store -> align -> store)      {enrich_time:8.3f} s   "
        f"(target <= {TARGETS['enrich step']} s; enriched {enriched_mb:.1f} MB)"
    )

    # An installed package has bytecode (pip compiles it); a checkout run with PYTHONDONTWRITEBYTECODE
    # would otherwise compile every module on every run and time the compiler.
    compileall.compile_dir(Path(diarflow.__file__).parent, quiet=1)
    run_times = []
    peak_kb = 0
    for attempt in range(5):
        run_store = workdir / f"run-store-{attempt}"
        command = [
            sys.executable,
            "-m",
            "diarflow",
            "run",
            "--episode-id",
            "BENCH",
            "--transcript",
            str(transcript_path),
            "--store",
            str(run_store),
            "--diarizer",
            "deepgram",
            "-q",
        ]
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, env={**os.environ, "DIARFLOW_LOG_LEVEL": "WARNING"})
        run_times.append(time.perf_counter() - began)
        if done.returncode != 0:
            sys.exit(f"diarflow run failed: {done.stderr.decode()}")
        peak_kb = max(peak_kb, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    run_time = min(run_times)
    print(
        f"run    whole `diarflow run` process        {run_time:8.3f} s   "
        f"= x{run_time / floor:.2f} the floor (target <= x{TARGETS['run/floor']})"
    )
    print(
        f"       peak RSS of `diarflow run`          {peak_kb / 1024:8.0f} MB  (target <= {TARGETS['peak RSS MB']} MB)"
    )


if __name__ == "__main__":
    main()
