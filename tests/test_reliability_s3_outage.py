"""The S3 server dies in the middle of a run: a clear retryable error, nothing half-written, a clean rerun.

A dedicated SeaweedFS (not the session's) is SIGKILLed while ``diarflow run``
works against it, at a point observed through S3 itself (a checkpoint
appearing), then restarted over the same data directory and ports. The run
must fail with ``StorageUnavailable`` naming the step and saying to retry;
every object the server shows afterwards must be whole and valid; and a rerun
must complete with artifacts equal to a clean run's.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest

from diarflow.adapters.stores import LocalStore, ObjectStore, get_json
from diarflow.adapters.stores.s3 import S3Store
from diarflow.contracts import AuditArtifact, EnrichedTranscript, ErrorArtifact, RawDiarization
from diarflow.samples.synthetic import synthetic_deepgram
from tests.reliability import RestartableSeaweedFS, artifacts, diarflow_cli, record, spawn_cli, wait_for
from tests.seaweedfs import S3Endpoint

EPISODE = "OUT1"
BUCKET = "outage"
MODELS: dict[str, type[Any]] = {
    f"diarization/{EPISODE}.json": RawDiarization,
    f"diarization/{EPISODE}.enriched.json": EnrichedTranscript,
    f"diarization/{EPISODE}.audit.json": AuditArtifact,
    f"diarization/{EPISODE}.error.json": ErrorArtifact,
}


@pytest.fixture(scope="module")
def transcript(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("outage") / "episode.json"
    path.write_bytes(orjson.dumps(synthetic_deepgram(num_words=30_000, num_turns=800, num_speakers=3, seed=11)))
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RestartableSeaweedFS]:
    weed = RestartableSeaweedFS(tmp_path / "seaweedfs")
    weed.start()
    weed.create_bucket(BUCKET)
    try:
        yield weed
    finally:
        weed.stop()


def env_for(endpoint: S3Endpoint, tmp_path: Path) -> dict[str, str]:
    # Short timeouts and few attempts so the outage surfaces in seconds, as an operator would configure a test.
    return {
        **endpoint.env(),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "DIARFLOW_STEP_ATTEMPTS": "2",
        "DIARFLOW_S3_MAX_ATTEMPTS": "2",
        "DIARFLOW_S3_CONNECT_TIMEOUT": "1",
        "DIARFLOW_S3_READ_TIMEOUT": "5",
    }


def args(transcript: Path, prefix: str) -> list[str]:
    store = f"s3://{BUCKET}/{prefix}"
    return ["run", "--episode-id", EPISODE, "--transcript", str(transcript), "--store", store, "--diarizer", "deepgram"]


def open_s3(endpoint: S3Endpoint, prefix: str) -> ObjectStore:
    return S3Store(BUCKET, prefix, client=endpoint.client())


def _appeared(client: Any, key: str, process: subprocess.Popen[str]) -> bool:
    """The object exists (or the run is over, so waiting longer is pointless)."""
    try:
        client.head_object(Bucket=BUCKET, Key=key)
    except Exception:  # not there yet
        return process.poll() is not None
    return True


def assert_everything_visible_is_whole(store: ObjectStore) -> int:
    """Every object parses (a truncated upload would not) and every artifact validates against its contract."""
    keys = list(store.list(""))
    for key in keys:
        value = get_json(store, key)
        if key in MODELS:
            MODELS[key].model_validate(value)
    return len(keys)


@pytest.mark.slow
def test_s3_killed_mid_run_fails_retryably_shows_nothing_partial_and_a_rerun_matches(
    server: RestartableSeaweedFS, transcript: Path, tmp_path: Path
) -> None:
    clean = tmp_path / "clean"
    done = diarflow_cli(
        "run", "--episode-id", EPISODE, "--transcript", str(transcript), "--store", str(clean), "--diarizer", "deepgram"
    )
    assert done.returncode == 0, done.stderr
    reference = artifacts(LocalStore(clean))

    scenarios = [
        ("after inspect (inside diarize)", f"runs/{EPISODE}/inspect-transcript-v1.json", "deepgram-fallback-v1"),
        ("inside enrich", f"runs/{EPISODE}/identify-speakers-v1.json", "enrich-transcript-v1"),
        ("before the run starts", None, None),
    ]
    measured: list[str] = []
    for number, (label, trigger, failing_step) in enumerate(scenarios):
        prefix = f"run-{number}"
        endpoint = server.endpoint
        env = env_for(endpoint, tmp_path)
        client = endpoint.client(connect_timeout=1, read_timeout=5, attempts=1)

        if trigger is None:
            server.kill()
            began = time.monotonic()
            failed = diarflow_cli(*args(transcript, prefix), env=env)
        else:
            process = spawn_cli(*args(transcript, prefix), env=env)

            key = f"{prefix}/{trigger}"
            assert wait_for(partial(_appeared, client, key, process), timeout=60, interval=0.005)
            server.kill()
            began = time.monotonic()
            out, err = process.communicate(timeout=180)
            failed = type("Done", (), {"returncode": process.returncode, "stdout": out, "stderr": err})()
        seconds = time.monotonic() - began

        # A clear, retryable error: the step, the error type, where, and what to do.
        assert failed.returncode == 1, failed.stderr
        last = failed.stderr.strip().splitlines()[-1]
        assert last.startswith("error: "), failed.stderr
        assert "StorageUnavailable" in last or "cannot reach S3" in last, last
        assert f"127.0.0.1:{server.ports['s3']}" in last, last
        assert "retry" in last, last
        if failing_step is not None:
            assert f"step {failing_step} failed" in last, last
        assert "Traceback" not in failed.stderr

        probe = (BUCKET, f"{prefix}/transcripts/{EPISODE}/deepgram.json") if trigger else None
        server.restart(probe=probe)
        store = open_s3(server.endpoint, prefix)
        visible = assert_everything_visible_is_whole(store)

        rerun = diarflow_cli(*args(transcript, prefix), env=env_for(server.endpoint, tmp_path))
        assert rerun.returncode == 0, rerun.stderr
        assert artifacts(store) == reference
        assert not store.exists(f"runs/{EPISODE}/lease.json")
        measured.append(f"{label}: failed after {seconds:.1f} s, {visible} whole objects visible, rerun equal")
    record(
        "s3 outage: SeaweedFS SIGKILLed mid-run, restarted, rerun",
        scenarios=len(scenarios),
        result="StorageUnavailable naming the step; no partial object; rerun equals a clean run",
        outcomes=measured,
    )
