"""Benchmark: the channels diarizer (one speaker per track) on two-track recordings of real speech.

1. The shipped sample as a two-track interview (``tests/two_track.py``): DER at collar 0
   from the words alone for several word gaps, and with the audio for bleed from none to
   −10 dB, with and without the bleed rule — the figures behind ``MAX_WORD_GAP`` and
   ``BLEED_MARGIN_DB`` in ``diarflow/domain/channels.py``, so not a held-out result.
2. Long two-track episodes built in 10-minute blocks (re-cut episodes of the sample split
   into tracks, the other voice bleeding in 25 dB down) appended to a 16-bit stereo WAV on
   disk, so building 6.7 hours holds one block in memory; the diarizer runs in its own
   process, which reports its real-time factor and peak RSS, and the DER is scored.

Every episode here is re-cut from the same 30 s sample (the same two voices) the constants
were chosen on, so none of these DER figures is independent of that choice.

Run: ``.venv/bin/python benchmarks/bench_channels_diarizer.py [--hours 1 6.7] [--skip-sample]``
(needs ``diarflow[local,eval]``). Targets: RTF <= 0.05, peak RSS <= 500 MB at 6.7 h.
Measured (2 shared cores): 6.7 h, 74,081 words: RTF 0.0050, peak RSS 204 MB, DER 2.8 %.
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

from tests import recut, two_track  # noqa: E402


def run_child(child: str, audio: Path, transcript: Path) -> tuple[dict[str, Any], float]:
    """Run ``child`` (a script writing JSON to its third argument) in its own process: its output, wall seconds."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.json"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", child, str(audio), str(transcript), str(out)], check=True)
        wall = time.perf_counter() - started
        result: dict[str, Any] = json.loads(out.read_text())
    return result, wall


def der_text(
    reference: list[tuple[float, float, str]], segments: list[dict[str, Any]], *, der_spec: str = ".1%"
) -> str:
    """DER at collar 0 of raw-diarization ``segments`` against ``reference`` (format ``der_spec``), with its parts."""
    from diarflow.domain.diarization_metrics import diarization_scores

    hypothesis = [(s["start"], s["end"], s["speaker"]) for s in segments]
    scores = diarization_scores(reference, hypothesis, collar=0.0)
    return (
        f"{scores.der:{der_spec}} (FA {scores.false_alarm:.1%}, miss {scores.missed:.1%}, conf {scores.confusion:.1%})"
    )


BLOCK_SECONDS = 600.0
BLEED_DB = -25.0
Reference = list[tuple[float, float, str]]

CHILD = r"""
import json, resource, sys, time
from diarflow.adapters.diarizers.base import DiarizationJob
from diarflow.adapters.diarizers.channels import ChannelsDiarizer
from diarflow.domain.transcript import parse_transcript
def peak_rss_mb():
    for line in open("/proc/self/status"):  # this program's own peak, not the parent's pages after fork
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
audio, transcript_path, out = sys.argv[1:4]
transcript = parse_transcript(open(transcript_path, "rb").read())
started = time.perf_counter()
output = ChannelsDiarizer().diarize(DiarizationJob("BENCH", audio, transcript))
finished = time.perf_counter()
json.dump({"segments": output.turns.to_segments(), "diarize_s": finished - started, "warnings": output.warnings,
           "words": len(transcript), "peak_rss_mb": peak_rss_mb()}, open(out, "w"))
"""


def sample_figures() -> None:
    """DER of the two-track sample by word gap and by bleed level, and of re-cut episodes by word gap."""
    from diarflow.domain import channels
    from diarflow.domain.transcript import read_transcript

    clean = two_track.sample_two_track()
    transcript = read_transcript(clean.transcript)
    print("two-track sample, words only (collar 0):")
    for gap in (0.0, 0.2, 0.3, 0.5, 0.8, 1.0, 1.5):
        marker = "  <- MAX_WORD_GAP" if gap == channels.MAX_WORD_GAP else ""
        speech = channels.word_speech(transcript, max_gap=gap)
        print(f"    gap {gap:3.1f} s: DER {_der(speech, clean.reference)}{marker}")
    print(f"two-track sample, with the audio (collar 0; bleed rule {channels.BLEED_MARGIN_DB:g} dB, or none):")
    with tempfile.TemporaryDirectory() as folder:
        for bleed in (None, -30.0, -25.0, -20.0, -15.0, -10.0):
            built = two_track.sample_two_track(bleed_db=bleed)
            wav, _ = built.write(Path(folder), "sample")
            scan = _scan(wav, transcript)
            rows = [
                _der(_heard(scan, transcript, bleed_margin_db=margin), built.reference)
                for margin in (channels.BLEED_MARGIN_DB, float("inf"))
            ]
            label = "none" if bleed is None else f"{bleed:g} dB"
            print(f"    bleed {label:>7}: DER {rows[0]} | without the bleed rule {rows[1]}")
        print("5-minute re-cut two-track episodes (30 % overlapping changes), with the audio, by word gap (collar 0):")
        for seed in (1, 2):
            episode = recut.build_episode(300.0, seed=seed, overlap=0.3)
            source = episode.transcript["results"]["channels"][0]["alternatives"][0]["words"]
            speakers = two_track.SAMPLE_SPEAKERS
            document = two_track.split_transcript(source, episode.reference, speakers, episode.duration)
            for bleed in (None, -20.0):
                tracks = two_track.split_tracks(episode.audio, episode.reference, speakers, bleed_db=bleed)
                wav, _ = two_track.TwoTrack(tracks, episode.reference, document).write(Path(folder), "recut")
                transcript = read_transcript(document)
                scan = _scan(wav, transcript)
                rows = [
                    f"gap {gap:g} s {_der(_heard(scan, transcript, max_gap=gap), episode.reference)}"
                    for gap in (0.0, channels.MAX_WORD_GAP)
                ]
                label = "none" if bleed is None else f"{bleed:g} dB"
                print(f"    seed {seed}, bleed {label:>6}: {' | '.join(rows)}")


Scan = tuple[list[Any], Any, float]


def _scan(wav: Path, transcript: Any) -> Scan:
    """One decode of ``wav``: each track's VAD probabilities and frame levels, and its seconds."""
    from diarflow.adapters.diarizers.channels import ChannelsDiarizer

    return ChannelsDiarizer().scan(wav, transcript.num_channels)


def _heard(scan: Scan, transcript: Any, **rules: float) -> list[Any]:
    """Each track's speech as the diarizer hears it from ``scan``, with the bleed margin or the word gap changed."""
    from diarflow.adapters.diarizers.channels import track_speech

    probabilities, levels, duration = scan
    return track_speech(probabilities, levels, duration, transcript, **rules)


def _der(speech: list[Any], reference: Reference) -> str:
    from diarflow.domain import channels

    return der_text(reference, channels.channel_turns(speech).to_segments(), der_spec="6.1%")


def build_long_episode(seconds: float, folder: Path, *, seed: int = 0) -> tuple[Path, Path, Reference, float]:
    """A two-track WAV of about ``seconds`` and its multichannel transcript; return paths, reference, duration."""
    wav_path, transcript_path = folder / "long.wav", folder / "long.deepgram.json"
    speakers = two_track.SAMPLE_SPEAKERS
    reference: Reference = []
    words: list[list[dict[str, Any]]] = [[] for _ in speakers]
    offset = 0.0
    block = 0
    with wave.open(str(wav_path), "wb") as sink:
        sink.setnchannels(len(speakers))
        sink.setsampwidth(2)
        sink.setframerate(two_track.RATE)
        while offset < seconds - 1.0:
            episode = recut.build_episode(min(BLOCK_SECONDS, seconds - offset), seed=seed + block)
            tracks = two_track.split_tracks(episode.audio, episode.reference, speakers, bleed_db=BLEED_DB, seed=block)
            sink.writeframes(recut.pcm16(tracks))
            source = episode.transcript["results"]["channels"][0]["alternatives"][0]["words"]
            split = two_track.split_transcript(source, episode.reference, speakers, episode.duration)
            for channel, track in enumerate(split["results"]["channels"]):
                words[channel].extend(_shifted(track["alternatives"][0]["words"], offset))
            reference.extend((start + offset, end + offset, speaker) for start, end, speaker in episode.reference)
            offset += episode.audio.size / two_track.RATE
            block += 1
            del episode, tracks
    document = {
        "metadata": {"request_id": "bench", "duration": round(offset, 3), "channels": len(speakers)},
        "results": {
            "channels": [{"alternatives": [{"transcript": "", "confidence": 0.95, "words": own}]} for own in words]
        },
    }
    transcript_path.write_text(json.dumps(document))
    return wav_path, transcript_path, reference, offset


def _shifted(words: list[dict[str, Any]], offset: float) -> list[dict[str, Any]]:
    return [{**w, "start": round(w["start"] + offset, 3), "end": round(w["end"] + offset, 3)} for w in words]


def run_long(name: str, audio: Path, transcript: Path, reference: Reference, duration: float) -> None:
    result, wall = run_child(CHILD, audio, transcript)
    print(
        f"{name:>8}: audio {duration / 3600:5.2f} h, {result['words']:,} words | "
        f"RTF {result['diarize_s'] / duration:.4f} "
        f"(diarize {result['diarize_s']:.0f} s, process {wall:.0f} s) | peak RSS {result['peak_rss_mb']:.0f} MB | "
        f"DER {der_text(reference, result['segments'])}"
        + (f" | warnings {result['warnings']}" if result["warnings"] else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0], help="lengths of the long episodes (hours)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-sample", action="store_true", help="do not measure the two-track sample first")
    args = parser.parse_args()
    if not args.skip_sample:
        sample_figures()
    for hours in args.hours:
        with tempfile.TemporaryDirectory(prefix="diarflow-bench-") as folder:
            built = time.perf_counter()
            wav, transcript, reference, duration = build_long_episode(hours * 3600, Path(folder), seed=args.seed)
            print(
                f"    (built {duration / 3600:.2f} h of two tracks in {time.perf_counter() - built:.0f} s, "
                f"{wav.stat().st_size / 1e6:.0f} MB WAV, bleed {BLEED_DB:g} dB)"
            )
            run_long(f"{hours:g} h", wav, transcript, reference, duration)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
