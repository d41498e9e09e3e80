"""The command line against hostile files and values: one ``error:`` line and its exit code, never a traceback.

Issue 13's outside attack, replayed as a user runs diarflow (``python -m diarflow``):

* JSON nested deeper than any reader follows, and integers past int64, in a
  transcript: exit 2 naming the field (the msgspec fast path recursed, numpy
  overflowed).
* Endless inputs (``/dev/zero``, a pipe that never closes) for every file the
  command line reads: the size limit holds while reading, in bounded memory.
* Times past 48 hours (``1e306`` s): refused where they enter, and a stored
  artifact that carries one (hand-edited, or from an older diarflow) makes
  ``export`` fail clearly and ``report`` leave the word out.
* Text from inputs and errors (speaker labels, audio paths, messages with
  ``[/]`` or ESC) printed as text by ``show``, ``eval`` and the progress lines.
* Words out of time order are refused naming the first; exports of a stored
  transcript never run backwards; control characters never reach an export.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from diarflow.adapters.diarizers.base import DiarizerOutput
from diarflow.adapters.pyannote import diarizer_output
from diarflow.adapters.pyannote._client import _validate
from diarflow.adapters.pyannote._models import Job
from diarflow.adapters.registry import InvalidVoiceprintEntry, VoiceprintRegistry
from diarflow.adapters.stores import LocalStore, get_json, put_json
from diarflow.config import Settings
from diarflow.contracts import DiarizeRequested, keys, parse_event_data
from diarflow.domain.turns import Turns
from diarflow.errors import InvalidDiarization, InvalidInput, RemoteServiceError
from diarflow.orchestration import Workspace, stages
from tests.reliability import cli_env, diarflow_cli, record, run_args

LIMIT_48_HOURS = "172,800 s (48 h)"


def deepgram(*words: bytes, metadata: bytes = b'{"duration": 2.0}', utterances: bytes = b"[]") -> bytes:
    """A Deepgram response, written as text so that any value (nested 100,000 deep, 2**64) can be spliced in."""
    listed = b", ".join(words or (WORD_A, WORD_B))
    return b'{"metadata": %s, "results": {"channels": [{"alternatives": [{"words": [%s]}]}], "utterances": %s}}' % (
        metadata,
        listed,
        utterances,
    )


WORD_A = b'{"word": "hello", "start": 0.0, "end": 0.5, "speaker": 0, "speaker_confidence": 0.9}'
WORD_B = b'{"word": "there", "start": 0.6, "end": 1.0, "speaker": 1, "speaker_confidence": 0.9}'


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def assert_refused(done: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    """Exit ``code``, no traceback, and a last stderr line ``error: …`` holding every fragment; returns that line."""
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == code, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), done.stderr
    for fragment in fragments:
        assert fragment in last, (fragment, last)
    return last


# --- item 8: nesting and integers past int64 ----------------------------------------------------------------

# Nesting in a field diarflow skips is refused once it passes what msgspec may follow (Python 3.11: ~1,000
# levels; see test_transcript.py for that latitude): 100,000 levels is past every interpreter's limit.
HOSTILE_TRANSCRIPTS: list[tuple[str, bytes, str]] = [
    ("metadata nested 100,000 levels deep", deepgram(metadata=b'{"x": %s}' % nested(99_998)), "metadata.x[0][0]"),
    (
        "a word's unread field nested 100,000 levels deep",
        deepgram(b'{"word": "a", "start": 0, "end": 1, "confidence": %s}' % nested(100_000)),
        "alternatives[0].words[0].confidence",
    ),
    (
        "a word's speaker nested 1,025 levels deep",
        deepgram(b'{"word": "a", "start": 0, "end": 1, "speaker": %s}' % nested(1_025)),
        "alternatives[0].words[0].speaker",
    ),
    (
        "plain transcript, a word's field nested 1,025 levels deep",
        b'{"words": [{"word": "a", "start": 0, "end": 1, "x": %s}]}' % nested(1_025),
        "words[0].x[0]",
    ),
    (
        "speaker 2**63",
        deepgram(WORD_A, b'{"word": "b", "start": 0.6, "end": 1, "speaker": 9223372036854775808}'),
        "words[1].speaker: must be a non-negative integer up to 10,000",
    ),
    (
        "speaker 2**64 - 1",
        deepgram(b'{"word": "b", "start": 0.6, "end": 1, "speaker": 18446744073709551615}'),
        "words[0].speaker: must be a non-negative integer up to 10,000",
    ),
    (
        "speaker -(2**63) - 1",
        deepgram(b'{"word": "b", "start": 0.6, "end": 1, "speaker": -9223372036854775809}'),
        "words[0].speaker: must be an integer",
    ),
    (
        "utterance speaker 2**63",
        deepgram(utterances=b'[{"start": 0, "end": 1, "speaker": 9223372036854775808}]'),
        "results.utterances[0].speaker: must be a non-negative integer up to 10,000",
    ),
    (
        "speaker_confidence 2**64",
        deepgram(b'{"word": "b", "start": 0.6, "end": 1, "speaker": 0, "speaker_confidence": 18446744073709551616}'),
        "words[0].speaker_confidence: must be between 0 and 1",
    ),
]


@pytest.mark.slow
def test_deep_nesting_and_integers_past_int64_exit_2_naming_the_field(tmp_path: Path) -> None:
    transcript = tmp_path / "hostile.json"
    for name, data, field in HOSTILE_TRANSCRIPTS:
        transcript.write_bytes(data)
        done = diarflow_cli(*run_args("HOSTILE1", transcript, tmp_path / "store", "-q"))
        assert_refused(done, 2, field), name
    # Nesting orjson reads (up to 1,024 levels) is no defect: the words are fine, nothing recurses into it.
    transcript.write_bytes(deepgram(metadata=b'{"x": %s}' % nested(1_000)))
    done = diarflow_cli(*run_args("DEEP1", transcript, tmp_path / "store", "-q"))
    assert done.returncode == 0, done.stderr
    record(
        "deep nesting and integers past int64 (CLI)",
        scenarios=len(HOSTILE_TRANSCRIPTS) + 1,
        result="exit 2 naming the field; 1,000 levels read",
    )


# --- item 9: endless inputs ------------------------------------------------------------------------------------

LIMIT_BYTES = 32 * 1024 * 1024
ADDRESS_SPACE_CAP = 1024 * 1024 * 1024
"""The CLI runs under this address-space cap, so an unbounded read ends in MemoryError, not a starved machine."""
PEAK_RSS_PROBE = (
    "import resource, subprocess, sys\n"
    "cap = int(sys.argv[1])\n"
    "def limit(): resource.setrlimit(resource.RLIMIT_AS, (cap, cap))\n"
    "done = subprocess.run(sys.argv[2:], capture_output=True, text=True, preexec_fn=limit, timeout=120)\n"
    "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.stderr.write(done.stderr)\n"
)


def run_capped(*args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """``diarflow *args`` under the address-space cap; the result (stdout: nothing) and its peak RSS in MB."""
    command = [sys.executable, "-c", PEAK_RSS_PROBE, str(ADDRESS_SPACE_CAP), sys.executable, "-m", "diarflow", *args]
    env = cli_env({"DIARFLOW_MAX_TRANSCRIPT_BYTES": str(LIMIT_BYTES)})
    probe = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
    code, max_rss_kb = (int(value) for value in probe.stdout.split())
    return subprocess.CompletedProcess(args, code, "", probe.stderr), max_rss_kb // 1024


@contextlib.contextmanager
def endless_pipe(path: Path) -> Iterator[Path]:
    """A named pipe that a thread keeps writing to until its reader goes away."""
    os.mkfifo(path)
    stop = threading.Event()

    def feed() -> None:
        with contextlib.suppress(OSError), path.open("wb") as sink:  # open blocks until a reader comes
            block = bytes(64 * 1024)
            while not stop.is_set():
                sink.write(block)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        yield path
    finally:
        stop.set()
        # A writer still waiting for a reader: open the read end once so its open() returns, then its write fails.
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
        writer.join(timeout=10)


@pytest.mark.slow
def test_endless_inputs_stop_at_the_size_limit_while_reading(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    rttm = tmp_path / "reference.rttm"
    rttm.write_text("SPEAKER E1 1 0.000 1.000 <NA> <NA> alice <NA> <NA>\n")
    over = f"over the {LIMIT_BYTES:,}-byte limit (raise DIARFLOW_MAX_TRANSCRIPT_BYTES to allow it)"
    stopped = f"reading stopped after {LIMIT_BYTES + 1:,} bytes"
    with endless_pipe(tmp_path / "endless.fifo") as fifo:
        commands = {
            "run --transcript /dev/zero": (run_args("ZERO1", Path("/dev/zero"), store), "--transcript"),
            "run --transcript <a pipe>": (run_args("PIPE1", fifo, store), "--transcript"),
            "eval --reference /dev/zero": (
                ["eval", "--episode-id", "E1", "--reference", "/dev/zero", "--store", store],
                "--reference",
            ),
            "eval --words-reference /dev/zero": (
                ["eval", "--episode-id", "E1", "--reference", str(rttm), "--words-reference", "/dev/zero"],
                "--words-reference",
            ),
            "backfill --from-file /dev/zero": (["backfill", "--from-file", "/dev/zero", "--dry-run"], "--from-file"),
        }
        peaks = {}
        for name, (args, option) in commands.items():
            done, peaks[name] = run_capped(*args)
            assert_refused(done, 2, option, over, stopped)
            # The limit, the interpreter and its libraries (~60 MB): nothing near the 1 GB the cap allows.
            assert peaks[name] < LIMIT_BYTES // 2**20 + 150, (name, peaks[name])
    assert not list((tmp_path / "store").rglob("deepgram.json")), "a transcript was stored"
    record(
        "endless inputs (/dev/zero, a pipe) against the size limit (CLI)",
        scenarios=len(commands),
        limit_bytes=LIMIT_BYTES,
        peak_rss_mb=peaks,
        result="exit 2 after reading limit+1 bytes",
    )


# --- item 10: times past 48 hours ------------------------------------------------------------------------------


def run_episode(tmp_path: Path, episode_id: str, transcript: dict[str, Any] | bytes, *extra: str) -> LocalStore:
    """A transcript-only run that must complete; its store."""
    path = tmp_path / f"{episode_id}.json"
    path.write_bytes(transcript if isinstance(transcript, bytes) else orjson.dumps(transcript))
    done = diarflow_cli(*run_args(episode_id, path, tmp_path / "store", "-q", *extra))
    assert done.returncode == 0, done.stderr
    return LocalStore(tmp_path / "store")


@pytest.mark.slow
def test_times_past_48_hours_are_refused_where_they_enter(tmp_path: Path) -> None:
    late = b'{"word": "later", "start": 1e306, "end": 1e306, "speaker": 1}'
    transcripts = {
        "results.channels[0].alternatives[0].words[1].start": deepgram(WORD_A, late),
        "words[1].end": b'{"words": [%s, {"word": "b", "start": 1, "end": 172800.001}]}' % WORD_A,
        "metadata.duration": deepgram(metadata=b'{"duration": 1e306}'),
        "results.utterances[0].end": deepgram(utterances=b'[{"start": 0, "end": 1e306, "speaker": 0}]'),
    }
    path = tmp_path / "late.json"
    for field, data in transcripts.items():
        path.write_bytes(data)
        done = diarflow_cli(*run_args("LATE1", path, tmp_path / "store", "-q"))
        assert_refused(done, 2, f"{field}: must be a finite, non-negative time up to {LIMIT_48_HOURS}")

    options = {
        "--max-cue-duration": ["export", "E1", "--format", "srt", "--max-cue-duration", "1e306"],
        "--max-pause": ["export", "E1", "--format", "srt", "--max-pause", "nan"],
        "--collar": ["eval", "--episode-id", "E1", "--reference", str(path), "--collar", "1e306"],
        "--end": ["voiceprints", "enroll", "a.wav", "--podcast-id", "P1", "--name", "Diane", "--end", "1e306"],
        "--start": ["voiceprints", "enroll", "a.wav", "--podcast-id", "P1", "--name", "Diane", "--start", "nan"],
    }
    for option, args in options.items():
        assert_refused(diarflow_cli(*args, "--store", str(tmp_path / "store")), 2, option)
    record(
        "times past 48 hours refused at the boundary (CLI)",
        scenarios=len(transcripts) + len(options),
        result="exit 2 naming the field or option",
    )


@pytest.mark.slow
def test_a_stored_time_past_48_hours_fails_export_clearly_and_report_leaves_it_out(tmp_path: Path) -> None:
    """What an older diarflow let through (a word at 1e306 s) must not crash the commands that read it back."""
    store = run_episode(tmp_path, "OLD1", deepgram())
    enriched = get_json(store, keys.enriched_key("OLD1"))
    enriched["words"][1].update(start=1e306, end=1e306)
    put_json(store, keys.enriched_key("OLD1"), enriched)
    diarization = get_json(store, keys.diarization_key("OLD1"))
    diarization["segments"][-1]["end"] = 1e306
    put_json(store, keys.diarization_key("OLD1"), diarization)

    done = diarflow_cli("export", "OLD1", "--format", "srt", "--store", str(tmp_path / "store"))
    assert_refused(done, 1, f"enriched.words[1].start: must be a finite, non-negative time up to {LIMIT_48_HOURS}")
    done = diarflow_cli("export", "OLD1", "--format", "rttm", "--store", str(tmp_path / "store"))
    assert_refused(done, 1, "diarization.segments[1].end: must be a finite, non-negative time up to")
    out = tmp_path / "report.html"
    done = diarflow_cli("report", "OLD1", "--store", str(tmp_path / "store"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    page = out.read_text()
    assert "-9223372036854775808" not in page
    assert "1 word(s) of the enriched transcript have no valid start/end and are not shown." in page
    assert "1 diarization segment(s) are malformed and are not shown." in page
    record(
        "a stored time past 48 hours (export, report)", scenarios=3, result="export exit 1 naming it; report omits it"
    )


def test_every_diarization_source_and_other_carrier_refuses_times_past_48_hours(tmp_path: Path) -> None:
    """pyannoteAI's answer, any diarizer's output before it is written, events, voiceprint entries."""
    job = {
        "jobId": "j1",
        "status": "succeeded",
        "output": {"diarization": [{"speaker": "S0", "start": 0, "end": 1e306}]},
    }
    with pytest.raises(RemoteServiceError, match=r"output\.diarization\[0\]\.end: must be a finite, non-negative time"):
        diarizer_output(_validate(Job, job, "GET /v1/jobs/j1"))

    runaway = Turns.from_columns([0.0, 10.0], [5.0, 172_800.5], ["A", "B"])  # e.g. a 49-hour audio file
    ws = Workspace(store=LocalStore(tmp_path / "store"), settings=Settings.from_env({}))
    with pytest.raises(InvalidDiarization, match=r"^segments\[1\]\.end: must be a finite, non-negative time up to"):
        stages.write_diarization(ws, "RUN1", "local", DiarizerOutput(turns=runaway))
    assert not (tmp_path / "store" / "diarization").exists()

    with pytest.raises(InvalidInput, match=r"^event\.data\.duration: Input should be less than or equal to 172800"):
        parse_event_data(DiarizeRequested, {"episode_id": "E1", "transcript_key": "t/E1.json", "duration": 1e306})

    store = LocalStore(tmp_path / "store")
    entry = {
        "voiceprint_id": "v1",
        "podcast_id": "P1",
        "display_name": "Diane",
        "model": "resemblyzer-ge2e",
        "embedding": [0.6, 0.8],
        "source": {"audio": "a.wav", "start": 0.0, "end": 1e306},
        "created_at": "2026-01-01T00:00:00.000Z",
    }
    put_json(store, keys.voiceprint_key("P1", "v1"), entry)
    with pytest.raises(InvalidVoiceprintEntry, match=r"source\.end: Input should be less than or equal to 172800"):
        VoiceprintRegistry(store).entries("P1")
    record("times past 48 hours from every source (in process)", scenarios=4, result="refused naming the field")


# --- item 11: text printed as text, never as markup -------------------------------------------------------------


@pytest.mark.slow
def test_show_and_eval_print_input_and_error_text_as_written(tmp_path: Path) -> None:
    transcript = tmp_path / "t.json"
    transcript.write_bytes(deepgram())
    # The local diarizer fails on the missing audio: its message, path and all, goes to the error log.
    audio = "gone[/]x.wav"  # Rich markup (the URL policy refuses control characters in audio sources)
    args = [*run_args("MARK1", transcript, tmp_path / "store"), "--diarizer", "local", "--audio", audio]
    done = diarflow_cli(*args)
    assert done.returncode == 0, done.stderr  # partial: the Deepgram fallback ran
    assert "Traceback" not in done.stderr
    assert audio in done.stderr  # the progress line printed the step's error as written

    # A registry name ("[" is no control character) and, edited in by hand, a sequence that retitles the terminal.
    store = LocalStore(tmp_path / "store")
    audit = get_json(store, keys.audit_key("MARK1"))
    audit["clusters"][0]["mappedTo"] = "[bold red]Diane[/]\x1b]0;pwned\x07"
    put_json(store, keys.audit_key("MARK1"), audit)
    wide = {"COLUMNS": "300"}  # Rich wraps table cells at the terminal's width; keep each on one line
    shown = diarflow_cli("show", "MARK1", "--store", str(tmp_path / "store"), env=wide)
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr
    for text in ("[bold red]Diane[/]\\x1b]0;pwned\\x07", f"AudioError: audio: file not found: {audio}"):
        assert text in shown.stdout, (text, shown.stdout)
    assert "\x1b" not in shown.stdout
    assert "\x07" not in shown.stdout

    diarization = get_json(store, keys.diarization_key("MARK1"))
    diarization["source"] = "[red]hand-edited[/]"
    put_json(store, keys.diarization_key("MARK1"), diarization)
    rttm = tmp_path / "reference.rttm"
    rttm.write_text("SPEAKER MARK1 1 0.000 1.000 <NA> <NA> alice <NA> <NA>\n")
    store_dir = str(tmp_path / "store")
    scored = diarflow_cli("eval", "--episode-id", "MARK1", "--reference", str(rttm), "--store", store_dir, env=wide)
    assert scored.returncode == 0, scored.stderr
    assert "[red]hand-edited[/]" in scored.stdout
    record("input and error text printed as text (show, eval, progress)", scenarios=3, result="printed as written")


# --- smaller things: word order, control characters --------------------------------------------------------------


@pytest.mark.slow
def test_words_out_of_time_order_are_refused_and_exports_never_run_backwards(tmp_path: Path) -> None:
    path = tmp_path / "unordered.json"
    path.write_bytes(
        b'{"words": [%s, %s, {"word": "early", "start": 0.2, "end": 0.4, "speaker": 0}]}' % (WORD_A, WORD_B)
    )
    done = diarflow_cli(*run_args("ORDER1", path, tmp_path / "store", "-q"))
    assert_refused(done, 2, "words[2].start: 0.2 is before the previous word's start 0.6", "time order")

    # A stored transcript out of order (edited by hand, or from an older diarflow): exports still run forwards.
    words = [orjson.loads(w) for w in (WORD_A, WORD_B)] + [
        {"word": f"w{i}.", "start": 1.0 + i, "end": 1.5 + i, "speaker": i % 2} for i in range(6)
    ]
    store = run_episode(tmp_path, "ORDER2", {"words": words})
    enriched = get_json(store, keys.enriched_key("ORDER2"))
    enriched["words"].reverse()
    put_json(store, keys.enriched_key("ORDER2"), enriched)
    checked = 0
    for fmt, pattern in {
        "srt": r"(\d\d):(\d\d):(\d\d),(\d{3}) -->",
        "vtt": r"(\d\d):(\d\d):(\d\d)\.(\d{3}) -->",
        "txt": r"\[(\d\d):(\d\d):(\d\d)\]()",
        "md": r"\[(\d\d):(\d\d):(\d\d)\]()",
    }.items():
        done = diarflow_cli("export", "ORDER2", "--format", fmt, "--store", str(tmp_path / "store"))
        assert done.returncode == 0, done.stderr
        times = [tuple(int(part or 0) for part in match) for match in re.findall(pattern, done.stdout)]
        assert len(times) >= 2, done.stdout
        assert times == sorted(times), (fmt, done.stdout)
        checked += 1
    record("words out of time order", scenarios=1 + checked, result="run refused naming the word; exports in order")


CONTROL_WORDS = ["nul\x00", "\x1b[31mred", "bell\x07", "two\nlines", "del\x7f", "c1\x85x", "ls\u2028x", "fine"]
"""Words carrying NUL, ESC (a colour sequence), BEL, a newline, DEL, NEL (C1) and a Unicode line separator."""
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")  # everything but the newline between lines


@pytest.mark.slow
def test_control_characters_never_reach_the_exports_or_the_report(tmp_path: Path) -> None:
    words = [
        {"word": text, "start": i * 0.5, "end": i * 0.5 + 0.4, "speaker": "host\x00" if i % 2 else "guest\x1b"}
        for i, text in enumerate(CONTROL_WORDS)
    ]
    store = run_episode(tmp_path, "CTRL1", {"words": words})
    enriched = get_json(store, keys.enriched_key("CTRL1"))
    assert [w["word"] for w in enriched["words"]] == CONTROL_WORDS  # the artifact stays faithful to the input

    done = diarflow_cli("export", "CTRL1", "--format", "all", "--store", str(tmp_path / "store"))
    assert done.returncode == 0, done.stderr
    exported = {key: store.get_bytes(key).decode("utf-8") for key in done.stdout.split()}
    assert len(exported) == 6
    for key, text in exported.items():
        # In JSON a control character is an escape (\u0000); decoded, it must be gone all the same.
        shown = orjson.dumps(orjson.loads(text), option=orjson.OPT_INDENT_2).decode() if key.endswith("json") else text
        assert not _CONTROL.search(text), (key, text)
        assert "\\u00" not in shown, (key, text)
        assert "\\u2028" not in shown, (key, text)
    assert "red" in exported[f"{keys.exports_prefix('CTRL1')}CTRL1.txt"]  # the text stays, the sequence goes

    page = tmp_path / "report.html"
    done = diarflow_cli("report", "CTRL1", "--store", str(tmp_path / "store"), "--out", str(page))
    assert done.returncode == 0, done.stderr
    html = page.read_text()
    for control in ("\x00", "\x1b", "\x07", "\x7f", "\x85", "\\u0000", "\\u001b", "\\u0007"):
        assert control not in html, repr(control)
    record(
        "control characters kept out of exports and the report",
        scenarios=len(exported) + 1,
        words=len(CONTROL_WORDS),
        result="none in txt/srt/vtt/md/json/rttm or the page; enriched JSON faithful",
    )
