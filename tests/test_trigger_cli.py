"""``diarflow trigger`` and ``diarflow backfill`` as a user runs them, against a recording Inngest event API."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from diarflow.adapters.stores import LocalStore
from diarflow.contracts import TRANSCRIBE_REQUESTED, TRANSCRIBED, keys
from tests.inngest_helpers import InngestRecorder, free_port


@pytest.fixture
def recorder() -> Iterator[InngestRecorder]:
    with InngestRecorder() as server:
        yield server


def diarflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DIARFLOW_", "INNGEST_", "PYANNOTEAI_"))}
    return subprocess.run(
        [sys.executable, "-m", "diarflow", *args],
        capture_output=True,
        text=True,
        env={**inherited, **env},
        timeout=120,
    )


def test_trigger_sends_the_diarization_event(recorder: InngestRecorder) -> None:
    done = diarflow("trigger", "EP1", "--podcast-id", "POD1", env={"INNGEST_DEV": recorder.url})

    assert done.returncode == 0, done.stderr
    summary = orjson.loads(done.stdout)
    assert summary == {"event": TRANSCRIBED, "episode_id": "EP1", "rerun": None, "ids": ["evt-0"]}
    [event] = recorder.events()
    assert event["name"] == TRANSCRIBED
    assert event["data"] == {"episode_id": "EP1", "podcast_id": "POD1", "transcript_key": keys.transcript_key("EP1")}


def test_trigger_rerun_carries_a_fresh_token(recorder: InngestRecorder) -> None:
    env = {"INNGEST_DEV": recorder.url}
    first = orjson.loads(diarflow("trigger", "EP1", "--rerun", env=env).stdout)
    second = orjson.loads(diarflow("trigger", "EP1", "--rerun", env=env).stdout)

    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", first["rerun"])
    assert first["rerun"] != second["rerun"]
    assert [e["data"]["rerun"] for e in recorder.events()] == [first["rerun"], second["rerun"]]


def test_trigger_transcribe_needs_the_audio_url(recorder: InngestRecorder) -> None:
    env = {"INNGEST_DEV": recorder.url}
    refused = diarflow("trigger", "EP1", "--transcribe", env=env)
    assert refused.returncode == 2
    assert "audio_url" in refused.stderr

    done = diarflow("trigger", "EP1", "--transcribe", "--audio-url", "https://media.example/ep1.mp3", env=env)
    assert done.returncode == 0, done.stderr
    [event] = recorder.events()
    assert event["name"] == TRANSCRIBE_REQUESTED
    assert event["data"] == {"episode_id": "EP1", "audio_url": "https://media.example/ep1.mp3"}


def test_trigger_refuses_bad_input_before_sending(recorder: InngestRecorder) -> None:
    bad_id = diarflow("trigger", "../etc", env={"INNGEST_DEV": recorder.url})
    assert bad_id.returncode == 2
    assert "episode_id" in bad_id.stderr
    bad_key = diarflow("trigger", "EP1", "--transcript-key", "s3://bucket/x.json", env={"INNGEST_DEV": recorder.url})
    assert bad_key.returncode == 2
    assert "transcript_key" in bad_key.stderr
    assert recorder.events() == []


def test_trigger_explains_a_missing_event_key_and_an_unreachable_server() -> None:
    no_key = diarflow("trigger", "EP1", env={})
    assert no_key.returncode == 2
    assert "INNGEST_EVENT_KEY" in no_key.stderr
    assert "Traceback" not in no_key.stderr

    down = diarflow("trigger", "EP1", env={"INNGEST_DEV": f"http://127.0.0.1:{free_port()}"})
    assert down.returncode == 1
    assert "did not answer" in down.stderr


def test_backfill_sends_batches_of_at_most_5000_with_progress(recorder: InngestRecorder, tmp_path: Path) -> None:
    rows = ["episode_id,podcast_id,audio_url"] + [
        f"EP{i},POD{i % 7},https://media.example/{i}.mp3" for i in range(12_001)
    ]
    (tmp_path / "episodes.csv").write_text("\n".join(rows) + "\n")

    done = diarflow("backfill", "--from-file", str(tmp_path / "episodes.csv"), env={"INNGEST_DEV": recorder.url})

    assert done.returncode == 0, done.stderr
    assert [len(r.json()) for r in recorder.event_requests()] == [5000, 5000, 2001]
    assert "sent 12,001/12,001 events (request 3/3)" in done.stderr
    assert orjson.loads(done.stdout) == {"sent": 12_001, "requests": 3, "event": TRANSCRIBED, "rerun": None}
    assert recorder.events()[7]["data"] == {
        "episode_id": "EP7",
        "podcast_id": "POD0",
        "audio_url": "https://media.example/7.mp3",
        "transcript_key": keys.transcript_key("EP7"),
    }


def test_backfill_dry_run_prints_the_events_and_sends_nothing(recorder: InngestRecorder, tmp_path: Path) -> None:
    (tmp_path / "episodes.csv").write_text("episode_id\nEP1\n\nEP2\nEP1\n")

    done = diarflow(
        "backfill", "--from-file", str(tmp_path / "episodes.csv"), "--dry-run", env={"INNGEST_DEV": recorder.url}
    )

    assert done.returncode == 0, done.stderr
    printed = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [e["data"]["episode_id"] for e in printed] == ["EP1", "EP2"]  # blank lines and repeats skipped
    assert "nothing sent" in done.stderr
    assert recorder.requests == []


def test_backfill_names_the_bad_line_and_sends_nothing(recorder: InngestRecorder, tmp_path: Path) -> None:
    (tmp_path / "episodes.csv").write_text("episode_id\nEP1\nnot/valid\n")

    done = diarflow("backfill", "--from-file", str(tmp_path / "episodes.csv"), env={"INNGEST_DEV": recorder.url})

    assert done.returncode == 2
    assert "line 3" in done.stderr
    assert recorder.requests == []


def test_backfill_a_podcast_from_the_transcripts_in_the_store(recorder: InngestRecorder, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    for episode in ("A1", "B2", "C3"):
        store.put_bytes(keys.transcript_key(episode), b"{}")
    store.put_bytes("transcripts/README.txt", b"not an episode")

    done = diarflow(
        "backfill",
        "--podcast-id",
        "POD9",
        "--rerun",
        "--store",
        str(tmp_path / "store"),
        env={"INNGEST_DEV": recorder.url},
    )

    assert done.returncode == 0, done.stderr
    events = recorder.events()
    assert [e["data"]["episode_id"] for e in events] == ["A1", "B2", "C3"]
    assert {e["data"]["podcast_id"] for e in events} == {"POD9"}
    assert len({e["data"]["rerun"] for e in events}) == 1  # one token for the whole backfill


def test_backfill_needs_a_source() -> None:
    done = diarflow("backfill", env={})
    assert done.returncode == 2
    assert "--podcast-id" in done.stderr


def test_serve_refuses_cloud_mode_without_a_signing_key(tmp_path: Path) -> None:
    done = diarflow("serve", "--port", str(free_port()), env={"DIARFLOW_STORE": str(tmp_path / "store")})
    assert done.returncode == 2
    assert "INNGEST_SIGNING_KEY" in done.stderr
    assert "INNGEST_DEV=1" in done.stderr
