"""The diarizers the benchmarks run, by name, and the worker process that runs one of them.

A diarizer is plugged in as a function

    diarize(audio_path, *, num_speakers=None, min_speakers=None, max_speakers=None) -> diarflow.domain.turns.Turns

returned by a loader that is called once per process (model loading is timed apart and left
out of the real-time factor). Add an entry to :data:`DIARIZERS`, e.g.::

    "v3": Diarizer(load=lambda: imported("diarflow.adapters.diarizers.v3:diarize"), about="…"),

or name one on the command line without an entry: ``--diarizers local,package.module:diarize``.

``local`` is the offline local diarizer (``--diarizer local``: segmentation-3.0 + CAM++,
docs/local-diarizer.md). It hears the audio alone; where a set has a transcript, the transcript's
words bound its speech.
``local-audio`` never gets a transcript, so it compares with audio-only diarizers on every set.
``deepgram`` is ``--diarizer deepgram``: the transcript's own speakers and word times, no audio. It
runs only on sets with a transcript, and says how far a set's reference lies from its words: a
diarizer whose speech the words bound cannot do much better than the words themselves.

Run as a script, this module is the worker: ``python benchmarks/diarizers.py JOB.json OUT.json``
diarizes the job's clips with one diarizer and writes the turns, the seconds each clip took and
the process's peak RSS, so that a benchmark measures the diarizer's memory and not its own.
"""

from __future__ import annotations

import importlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diarflow.domain.turns import Turns

DiarizeFunction = Callable[..., Turns]
"""``diarize(audio_path, *, num_speakers=None, min_speakers=None, max_speakers=None[, transcript_path=None])``."""


@dataclass(frozen=True)
class Diarizer:
    """How to get a diarize function, and whether it reads the transcript where a set has one."""

    load: Callable[[], DiarizeFunction]
    about: str
    reads_transcript: bool = False
    """Whether ``diarize`` takes ``transcript_path=`` (a Deepgram JSON, or None when there is none)."""
    needs_transcript: bool = False
    """Whether it can run only where every clip has a transcript (the benchmark skips other sets)."""


def imported(target: str) -> DiarizeFunction:
    """The function named ``package.module:function``."""
    module_name, _, function_name = target.partition(":")
    function: DiarizeFunction = getattr(importlib.import_module(module_name), function_name)
    return function


# --- local: the offline local diarizer ---------------------------------------------------------


def load_local(*, use_transcript: bool = True) -> DiarizeFunction:
    from diarflow.adapters.diarizers.local.overlap import load_overlap_diarizer
    from diarflow.domain.transcript import parse_transcript

    diarizer = load_overlap_diarizer()

    def diarize(audio_path: str, *, transcript_path: str | None = None, **hints: int | None) -> Turns:
        transcript = None
        if use_transcript and transcript_path is not None:
            transcript = parse_transcript(Path(transcript_path).read_bytes())
        return diarizer.diarize_file(Path(audio_path), transcript=transcript, **hints).turns

    return diarize


# --- deepgram: the transcript's own speakers -------------------------------------------------------


def load_deepgram() -> DiarizeFunction:
    from diarflow.adapters.diarizers.base import DiarizationJob
    from diarflow.adapters.diarizers.deepgram_fallback import DeepgramFallbackDiarizer
    from diarflow.domain.transcript import parse_transcript

    diarizer = DeepgramFallbackDiarizer()

    def diarize(audio_path: str, *, transcript_path: str | None = None, **_hints: int | None) -> Turns:
        if transcript_path is None:
            raise ValueError(f"{audio_path}: the deepgram diarizer needs the clip's transcript, and it has none")
        transcript = parse_transcript(Path(transcript_path).read_bytes())
        job = DiarizationJob(episode_id=Path(audio_path).stem, audio=audio_path, transcript=transcript)
        return diarizer.diarize(job).turns

    return diarize


DIARIZERS: dict[str, Diarizer] = {
    "local": Diarizer(
        load=load_local,
        about="the local diarizer (segmentation-3.0 + CAM++); the transcript's words bound speech where there is one",
        reads_transcript=True,
    ),
    "local-audio": Diarizer(
        load=lambda: load_local(use_transcript=False),
        about="the local diarizer from the audio alone everywhere (no transcript)",
    ),
    "deepgram": Diarizer(
        load=load_deepgram,
        about="the transcript's own speakers and word times (--diarizer deepgram), no audio; sets with a transcript",
        reads_transcript=True,
        needs_transcript=True,
    ),
}


def resolve(name: str) -> Diarizer:
    """A registered diarizer, or ``package.module:function`` named on the command line."""
    if name in DIARIZERS:
        return DIARIZERS[name]
    if ":" in name:
        return Diarizer(load=lambda: imported(name), about=name)
    known = ", ".join(DIARIZERS)
    raise SystemExit(f"unknown diarizer {name!r}: use one of {known}, or package.module:function")


# --- the worker -----------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM), in MB.

    Not ``ru_maxrss``: that would also count the parent's pages the process held between fork
    and exec (the parent may hold a whole built episode).
    """
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float | None:
    """This process's resident memory now (VmRSS), in MB; None where /proc does not say."""
    return _status_mb("VmRSS")


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def turns_of(clip: Mapping[str, Any]) -> list[tuple[float, float, str]]:
    """One clip of :func:`run_job`'s answer as scored turns: (start, end, speaker), confidence left out."""
    return [(float(start), float(end), str(speaker)) for start, end, speaker, _ in clip["segments"]]


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Diarize ``job["clips"]`` (``{id, audio, transcript?, num_speakers?}``) with ``job["diarizer"]``."""
    entry = resolve(job["diarizer"])
    started = time.perf_counter()
    diarize = entry.load()
    load_seconds = time.perf_counter() - started
    results = []
    for clip in job["clips"]:
        options: dict[str, Any] = {"num_speakers": clip.get("num_speakers")}
        if entry.reads_transcript:
            options["transcript_path"] = clip.get("transcript")
        started, cpu_started = time.perf_counter(), time.process_time()
        turns = diarize(clip["audio"], **options)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        segments = [
            [segment["start"], segment["end"], segment["speaker"], segment["confidence"]]
            for segment in turns.to_segments()
        ]
        results.append(
            {
                "id": clip["id"],
                "segments": segments,
                "diarize_seconds": seconds,
                "diarize_cpu_seconds": cpu_seconds,
                "rss_after_mb": rss_mb(),
            }
        )
    return {"load_seconds": load_seconds, "clips": results, "peak_rss_mb": peak_rss_mb()}


def run_in_worker(diarizer: str, clips: list[dict[str, Any]]) -> dict[str, Any]:
    """:func:`run_job` in a fresh process (this file as a script): the peak RSS is the diarizer's own."""
    with tempfile.TemporaryDirectory(prefix="diarflow-bench-") as folder:
        job, out = Path(folder) / "job.json", Path(folder) / "out.json"
        job.write_text(json.dumps({"diarizer": diarizer, "clips": clips}))
        subprocess.run([sys.executable, __file__, str(job), str(out)], check=True)
        result: dict[str, Any] = json.loads(out.read_text())
    return result


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    job_path, out_path = sys.argv[1:3]
    Path(out_path).write_text(json.dumps(run_job(json.loads(Path(job_path).read_text()))))
