"""Two runs of the same episode at the same time (two processes), on a local directory and on S3.

The lease (``runs/<id>/lease.json``, created with create-if-absent) admits one
run at a time. By default the second run stops at once with "episode … is
being processed by … until …" (exit 1, retryable); with
``DIARFLOW_LEASE_WAIT`` it waits and then reuses the first run's checkpoints.
Either way the artifacts left behind are exactly those of a clean run —
never a mix of two runs, even when the two runs bring *different*
transcripts for the episode.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from diarflow.adapters.stores import LocalStore, ObjectStore
from diarflow.samples.synthetic import synthetic_deepgram
from tests.reliability import artifacts, diarflow_cli, record, run_args, spawn_cli

EPISODE = "TWIN1"


@pytest.fixture(scope="module")
def transcripts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("twins")
    first, second = folder / "a.json", folder / "b.json"
    first.write_bytes(orjson.dumps(synthetic_deepgram(num_words=60_000, num_turns=1200, num_speakers=3, seed=1)))
    second.write_bytes(orjson.dumps(synthetic_deepgram(num_words=50_000, num_turns=900, num_speakers=4, seed=2)))
    return first, second


@pytest.fixture(scope="module")
def references(transcripts: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The artifacts of a clean, lone run of each transcript."""
    found = []
    for transcript in transcripts:
        store = tmp_path_factory.mktemp("twin-clean") / "store"
        done = diarflow_cli(*run_args(EPISODE, transcript, str(store)))
        assert done.returncode == 0, done.stderr
        found.append(artifacts(LocalStore(store)))
    return found


def run_both(first: list[str], second: list[str], env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    """Start both runs at once and wait for both."""
    processes = [spawn_cli(*args, env=env) for args in (first, second)]
    finished = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        finished.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return finished


def kind(store: ObjectStore) -> str:
    return "s3" if store.url.startswith("s3://") else "local"


@pytest.mark.slow
def test_a_second_run_stops_with_a_clear_message_and_the_first_completes(
    store: ObjectStore, transcripts: tuple[Path, Path], references: list[dict[str, Any]]
) -> None:
    rounds = 2 if kind(store) == "local" else 1
    for _ in range(rounds):
        for key in store.list(""):
            store.delete(key)
        done = run_both(
            run_args(EPISODE, transcripts[0], store.url), run_args(EPISODE, transcripts[0], store.url), env={}
        )
        codes = sorted(d.returncode for d in done)
        assert codes == [0, 1], [d.stderr for d in done]
        busy = next(d for d in done if d.returncode == 1)
        last = busy.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: episode {EPISODE} is being processed by "), busy.stderr
        assert " until " in last
        assert busy.stdout == ""  # it stopped before producing anything
        assert artifacts(store) == references[0]
        assert not store.exists(f"runs/{EPISODE}/lease.json")
    record("concurrent runs: second stops (EpisodeBusy)", store=kind(store), scenarios=rounds, result="pass")


@pytest.mark.slow
def test_with_lease_wait_the_second_run_waits_and_reuses_the_first_runs_work(
    store: ObjectStore, transcripts: tuple[Path, Path], references: list[dict[str, Any]]
) -> None:
    done = run_both(
        run_args(EPISODE, transcripts[0], store.url),
        run_args(EPISODE, transcripts[0], store.url),
        env={"DIARFLOW_LEASE_WAIT": "120"},
    )
    assert [d.returncode for d in done] == [0, 0], [d.stderr for d in done]
    assert any("deepgram-fallback-v1 (checkpoint reused)" in d.stderr for d in done)
    assert done[0].stdout == done[1].stdout
    assert artifacts(store) == references[0]
    record("concurrent runs: second waits (DIARFLOW_LEASE_WAIT)", store=kind(store), scenarios=1, result="pass")


@pytest.mark.slow
def test_two_runs_with_different_transcripts_never_leave_mixed_artifacts(
    store: ObjectStore, transcripts: tuple[Path, Path], references: list[dict[str, Any]]
) -> None:
    rounds = 2 if kind(store) == "local" else 1
    outcomes = []
    for number in range(rounds):
        for key in store.list(""):
            store.delete(key)
        pair = (transcripts[number % 2], transcripts[(number + 1) % 2])
        done = run_both(
            run_args(EPISODE, pair[0], store.url),
            run_args(EPISODE, pair[1], store.url),
            env={"DIARFLOW_LEASE_WAIT": "120"},
        )
        assert [d.returncode for d in done] == [0, 0], [d.stderr for d in done]
        final = artifacts(store)
        # Exactly one clean run's artifacts: every file from the same run, none from the other.
        matches = [index for index, reference in enumerate(references) if final == reference]
        assert len(matches) == 1, "the artifacts mix two runs"
        outcomes.append(f"round {number}: artifacts of transcript {'ab'[matches[0]]}")
    record(
        "concurrent runs: different transcripts",
        store=kind(store),
        scenarios=rounds,
        result="artifacts always equal one clean run",
        outcomes=outcomes,
    )
