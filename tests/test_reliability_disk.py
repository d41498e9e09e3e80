"""Local store errors: a full disk and a read-only file system give a clear error naming the path.

A real tmpfs of a chosen size is mounted for each test (root here; the tests
fail, never skip, where mounting is impossible) and unmounted afterwards.
Nothing already stored may change or become unreadable, and no temp file may
be left behind.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from diarflow.adapters.stores import LocalStore, get_json
from diarflow.contracts import ErrorArtifact, PipelineResult, keys
from diarflow.errors import StorageError
from diarflow.samples.synthetic import synthetic_deepgram
from tests.reliability import artifacts, diarflow_cli, record, remount, run_args, tmpfs

EPISODE = "DISK1"


def temp_files(root: Path) -> list[str]:
    return [name for _, _, names in os.walk(root) for name in names if name.startswith(".diarflow-tmp-")]


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def transcript(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("disk") / "episode.json"
    path.write_bytes(orjson.dumps(synthetic_deepgram(num_words=5_000, num_turns=200, num_speakers=3, seed=5)))
    return path


@pytest.fixture(scope="module")
def reference(transcript: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    store = tmp_path_factory.mktemp("disk-clean") / "store"
    done = diarflow_cli(*run_args(EPISODE, transcript, store))
    assert done.returncode == 0, done.stderr
    return artifacts(LocalStore(store)), store


def test_disk_full_write_names_the_path_and_keeps_the_old_object(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", "1m") as fs:
        store = LocalStore(fs / "store")
        store.put_bytes(f"diarization/{EPISODE}.json", b'{"v": 1}')
        free_before = shutil.disk_usage(fs).free
        for operation in ("put_bytes", "create_if_absent"):
            with pytest.raises(StorageError) as caught:
                getattr(store, operation)(
                    f"diarization/{EPISODE}.json" if operation == "put_bytes" else "x/new.json", b"x" * 2_000_000
                )
            message = caught.value.message
            assert str(fs / "store") in message, message
            assert "no space left on the device" in message, message
            assert not caught.value.retryable  # a full disk needs an operator: retrying at once cannot help
        assert store.get_bytes(f"diarization/{EPISODE}.json") == b'{"v": 1}'
        assert not store.exists("x/new.json")
        assert temp_files(fs) == []
        assert shutil.disk_usage(fs).free >= free_before  # the failed writes' space was given back
    record("disk full: direct writes", scenarios=2, result="StorageError naming path and ENOSPC; old object intact")


@pytest.mark.slow
def test_a_run_on_a_full_disk_fails_clearly_and_a_rerun_with_space_completes(
    transcript: Path, reference: tuple[dict[str, Any], Path], tmp_path: Path
) -> None:
    ref_artifacts, ref_store = reference
    sizes = {str(p.relative_to(ref_store)): p.stat().st_size for p in ref_store.rglob("*") if p.is_file()}
    enriched = sizes[f"diarization/{EPISODE}.enriched.json"]
    # Room for the transcript, the raw diarization, the audit and the checkpoints, not for the enriched transcript.
    room = sum(v for k, v in sizes.items() if "enriched" not in k and "report" not in k) + 96 * 1024
    assert enriched > 2 * 96 * 1024
    with tmpfs(tmp_path / "fs", f"{room // 1024}k") as fs:
        store_dir = fs / "store"
        failed = diarflow_cli(*run_args(EPISODE, transcript, store_dir))
        assert failed.returncode == 1, failed.stderr
        assert "Traceback" not in failed.stderr
        enriched_path = store_dir / "diarization" / f"{EPISODE}.enriched.json"
        result = PipelineResult.model_validate_json(failed.stdout)  # the run failed cleanly and said why
        assert result.status == "failed"
        assert result.error is not None
        assert result.error.message == f"cannot write {enriched_path}: no space left on the device"
        logged = ErrorArtifact.model_validate(get_json(LocalStore(store_dir), keys.error_key(EPISODE)))
        assert [(e.step, e.type) for e in logged.errors] == [("enrich-transcript-v1", "StorageError")]
        assert not enriched_path.exists()
        assert temp_files(fs) == []
        store = LocalStore(store_dir)
        partial = artifacts(store)  # everything visible parses: nothing half-written
        for key, value in partial.items():
            if key in ref_artifacts and "error" not in key:
                assert value == ref_artifacts[key], key

        remount(fs, "size=64m")
        rerun = diarflow_cli(*run_args(EPISODE, transcript, store_dir))
        assert rerun.returncode == 0, rerun.stderr
        assert "(checkpoint reused)" in rerun.stderr
        assert artifacts(store) == ref_artifacts
    record(
        "disk full: a run on a full tmpfs",
        scenarios=1,
        tmpfs_bytes=room,
        result="exit 1 naming the path and ENOSPC; rerun after growing the tmpfs equals a clean run",
    )


@pytest.mark.slow
def test_a_read_only_store_fails_clearly_and_changes_nothing(transcript: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "fs", "16m") as fs:
        store_dir = fs / "store"
        first = diarflow_cli(*run_args(EPISODE, transcript, store_dir))
        assert first.returncode == 0, first.stderr
        before = files(store_dir)
        remount(fs, "ro")
        try:
            store = LocalStore(store_dir)
            with pytest.raises(StorageError) as caught:
                store.put_bytes(f"diarization/{EPISODE}.json", b"{}")
            assert f"cannot write {store_dir / 'diarization' / f'{EPISODE}.json'}" in caught.value.message
            assert "read-only" in caught.value.message
            assert store.get_bytes(f"diarization/{EPISODE}.json") == before[f"diarization/{EPISODE}.json"]

            again = diarflow_cli(*run_args(EPISODE, transcript, store_dir, "--force"))
            assert again.returncode == 1, again.stderr
            assert "Traceback" not in again.stderr
            assert f"cannot write {store_dir / 'runs' / EPISODE / 'lease.json'}: the file system is read-only" in (
                again.stderr
            ), again.stderr
            assert files(store_dir) == before
        finally:
            remount(fs, "rw")
    record("read-only store", scenarios=2, result="StorageError naming path and EROFS; every byte unchanged")
