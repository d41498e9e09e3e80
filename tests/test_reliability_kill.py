"""SIGKILL the local runner between and inside steps; a rerun resumes and matches an uninterrupted run.

Each scenario starts ``python -m diarflow run`` on a 30,000-word episode,
watches the store directory for a chosen file (a checkpoint, or an artifact
whose checkpoint is not written yet) or waits a chosen time, sends SIGKILL,
then reruns the same command. The rerun must exit 0, reuse the checkpoints
the killed run finished, and leave artifacts equal to a clean run's (after
removing ``created_at``/``occurred_at``, the only fields that differ by
design). No file is observed through a test hook: only what the store shows.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from diarflow.adapters.stores import LocalStore
from diarflow.contracts import PipelineResult
from diarflow.samples.synthetic import synthetic_deepgram
from tests.reliability import artifacts, diarflow_cli, record, run_args, sigkill, spawn_cli, wait_for

EPISODE = "KILL1"
STEPS = (
    "inspect-transcript-v1",
    "deepgram-fallback-v1",
    "apply-corrections-v1",
    "identify-speakers-v1",
    "enrich-transcript-v1",
    "update-error-log-v1_final",
    "render-report-v1",
    "emit-result-v1",
)


def checkpoint(step: str) -> str:
    return f"runs/{EPISODE}/{step}.json"


# What to wait for before the kill: a store file (relative path), or a delay in seconds.
KILL_POINTS: list[tuple[str, str | float]] = [
    ("while storing the transcript (lease held, nothing stored)", f"runs/{EPISODE}/lease.json"),
    ("after the transcript is stored", f"transcripts/{EPISODE}/deepgram.json"),
    ("between inspect and diarize", checkpoint("inspect-transcript-v1")),
    ("inside diarize: artifact written, no checkpoint", f"diarization/{EPISODE}.json"),
    ("between diarize and identify", checkpoint("deepgram-fallback-v1")),
    ("inside identify: audit written, no checkpoint", f"diarization/{EPISODE}.audit.json"),
    ("inside enrich (the longest step)", checkpoint("identify-speakers-v1")),
    ("inside enrich: enriched written, no checkpoint", f"diarization/{EPISODE}.enriched.json"),
    ("between enrich and the error log", checkpoint("enrich-transcript-v1")),
    ("between the error log and the report", checkpoint("update-error-log-v1_final")),
    ("between the report and emit", checkpoint("render-report-v1")),
    ("at 40% of a clean run's time", 0.4),
    ("at 70% of a clean run's time", 0.7),
]


@pytest.fixture(scope="module")
def transcript(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kill") / "episode.json"
    path.write_bytes(orjson.dumps(synthetic_deepgram(num_words=30_000, num_turns=800, num_speakers=3, seed=8)))
    return path


@pytest.fixture(scope="module")
def clean_run(transcript: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, float]:
    """The artifacts, result line and wall time of an uninterrupted run."""
    store = tmp_path_factory.mktemp("clean") / "store"
    began = time.monotonic()
    done = diarflow_cli(*run_args(EPISODE, transcript, store))
    elapsed = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    return artifacts(LocalStore(store)), done.stdout, elapsed


def kill_at(transcript: Path, store: Path, point: str | float, clean_seconds: float) -> tuple[set[str], bool]:
    """Start a run, SIGKILL it at ``point``; returns the checkpoints present at the kill and whether it had exited."""
    process = spawn_cli(*run_args(EPISODE, transcript, store))
    if isinstance(point, str):
        seen = wait_for(lambda: (store / point).exists() or process.poll() is not None, timeout=120)
        assert seen, f"{point} never appeared"
    else:
        time.sleep(point * clean_seconds)
    finished = process.poll() is not None
    sigkill(process)
    present = {step for step in STEPS if (store / checkpoint(step)).exists()}
    return present, finished


def assert_resumed(transcript: Path, store: Path, present: set[str], clean: tuple[dict[str, Any], str, float]) -> None:
    reference, reference_stdout, _ = clean
    rerun = diarflow_cli(*run_args(EPISODE, transcript, store))
    assert rerun.returncode == 0, rerun.stderr
    assert PipelineResult.model_validate_json(rerun.stdout) == PipelineResult.model_validate_json(reference_stdout)
    # Every step the killed run finished is reused, not recomputed (a checkpoint is never half-written);
    # except inspect, which names the transcript the rerun stores again (a new version of the same bytes).
    for step in present - {"inspect-transcript-v1", "emit-result-v1"}:
        assert f"{step.replace('_', '.')} (checkpoint reused)" in rerun.stderr, (step, rerun.stderr)
    assert artifacts(LocalStore(store)) == reference
    assert not (store / f"runs/{EPISODE}/lease.json").exists()


@pytest.mark.slow
def test_sigkill_at_every_point_then_rerun_matches_a_clean_run(
    transcript: Path, clean_run: tuple[dict[str, Any], str, float], tmp_path: Path
) -> None:
    outcomes: list[str] = []
    for number, (label, point) in enumerate(KILL_POINTS):
        store = tmp_path / f"store-{number}"
        present, finished = kill_at(transcript, store, point, clean_run[2])
        assert_resumed(transcript, store, present, clean_run)
        outcomes.append(f"{label}: {len(present)} checkpoints at kill{' (had finished)' if finished else ''}")
    record(
        "kill: SIGKILL local runner, rerun",
        scenarios=len(KILL_POINTS),
        result="all reruns exit 0 with artifacts equal to a clean run",
        outcomes=outcomes,
    )


@pytest.mark.slow
def test_killed_twice_then_rerun_matches_a_clean_run(
    transcript: Path, clean_run: tuple[dict[str, Any], str, float], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    first, _ = kill_at(transcript, store, f"diarization/{EPISODE}.json", clean_run[2])
    second, _ = kill_at(transcript, store, checkpoint("identify-speakers-v1"), clean_run[2])
    assert first <= second
    assert_resumed(transcript, store, second, clean_run)
    record("kill: SIGKILL twice, rerun", scenarios=1, result="rerun matches a clean run")


@pytest.mark.slow
def test_a_killed_write_leaves_no_visible_partial_object(tmp_path: Path) -> None:
    """Kill during a large write: the store lists only whole objects; the temp file is invisible and harmless."""
    store_dir = tmp_path / "store"
    script = (
        "import sys; from diarflow.adapters.stores import LocalStore\n"
        "s = LocalStore(sys.argv[1]); s.put_bytes('diarization/X.enriched.json', b'{\"v\": 1}')\n"
        "print('ready', flush=True)\n"
        "while True: s.put_bytes('diarization/X.enriched.json', b'[' + b'1,' * 20_000_000 + b'2]')\n"
    )
    import sys

    kills = 5
    for _ in range(kills):
        process = subprocess.Popen([sys.executable, "-c", script, str(store_dir)], stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        time.sleep(0.15)
        process.kill()
        process.wait()
        store = LocalStore(store_dir)
        assert list(store.list("")) == ["diarization/X.enriched.json"]
        value = orjson.loads(store.get_bytes("diarization/X.enriched.json"))  # whole: the old or the new object
        assert value == {"v": 1} or (isinstance(value, list) and len(value) == 20_000_001)
    record("kill: SIGKILL during a 40 MB write", scenarios=kills, result="only whole objects visible")
