"""Writing the report from a store, and ``diarflow report``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from diarflow.adapters.stores import LocalStore, ObjectStore, put_json
from diarflow.cli import app
from diarflow.contracts import keys
from diarflow.errors import ArtifactNotFound, InvalidId
from diarflow.report import write_report, writer
from tests.report_episodes import EpisodeArtifacts, failed_error, page_data, sample_episode, wav_bytes


def put_artifacts(store: ObjectStore, episode: EpisodeArtifacts) -> None:
    """Store the artifacts of a run under their keys, as the pipeline does."""
    episode_id = episode.episode_id
    for key, artifact in (
        (keys.enriched_key(episode_id), episode.enriched),
        (keys.diarization_key(episode_id), episode.diarization),
        (keys.audit_key(episode_id), episode.audit),
        (keys.error_key(episode_id), episode.error),
    ):
        if artifact is not None:
            put_json(store, key, artifact)


def stored_page(store: ObjectStore, episode_id: str) -> str:
    return store.get_bytes(keys.report_key(episode_id)).decode("utf-8")


def test_write_report_stores_the_page_at_the_report_key(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    episode = sample_episode("E1")
    put_artifacts(store, episode)
    key = write_report(store, "E1", audio_src="https://cdn.example/e1.mp3")
    assert key == "diarization/E1.report.html"
    page = stored_page(store, "E1")
    assert page.startswith("<!doctype html>")
    assert 'data-status="completed"' in page
    data = page_data(page)
    assert data["audio"] == "https://cdn.example/e1.mp3"
    assert len(data["words"]["text"]) == len(episode.enriched["words"])  # type: ignore[index]


def test_the_status_shown_is_the_error_artifacts(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    episode = sample_episode("E1")
    episode.error = failed_error("E1", "partial")
    put_artifacts(store, episode)
    write_report(store, "E1")
    page = stored_page(store, "E1")
    assert 'data-status="partial"' in page
    assert "RemoteServiceUnavailable" in page


def test_a_run_that_failed_before_enrichment_still_gets_a_page(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    put_json(store, keys.error_key("E1"), failed_error("E1"))
    write_report(store, "E1")
    page = stored_page(store, "E1")
    assert 'data-status="failed"' in page
    assert "No enriched transcript for this run." in page


def test_nothing_to_report_is_artifact_not_found(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(ArtifactNotFound, match=r"no enriched transcript for episode E1 .*diarflow run"):
        write_report(store, "E1")
    assert not store.exists(keys.report_key("E1"))


class _NoIOStore:
    """A store that fails the test on any access."""

    url = "no-io://"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"store.{name} called before the id was validated")


@pytest.mark.parametrize("bad_id", ["../E1", "E1/x", "", "é"])
def test_an_invalid_id_is_refused_before_any_io(bad_id: str) -> None:
    with pytest.raises(InvalidId):
        write_report(_NoIOStore(), bad_id)


def test_small_clips_are_embedded_and_large_ones_linked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(tmp_path)
    episode = sample_episode("E1")
    put_artifacts(store, episode)
    small, large = wav_bytes(0.5), wav_bytes(3.0)
    store.put_bytes(keys.clip_key("E1", "A"), small)
    store.put_bytes(keys.clip_key("E1", "B"), large)
    monkeypatch.setattr(writer, "MAX_EMBEDDED_CLIP_BYTES", len(small) + 1)
    write_report(store, "E1")
    clips = page_data(stored_page(store, "E1"))["clips"]
    assert clips["A"].startswith("data:audio/wav;base64,UklGR")  # "RIFF"
    assert clips["B"] == "E1/clips/B.wav"  # relative to diarization/E1.report.html
    assert (tmp_path / "diarization" / clips["B"]).is_file()


def test_a_signed_audio_url_is_left_out_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = LocalStore(tmp_path)
    put_artifacts(store, sample_episode("E1"))
    with caplog.at_level(logging.WARNING, logger="diarflow.report"):
        write_report(store, "E1", audio_src="https://b.s3.amazonaws.com/e1.mp3?X-Amz-Signature=secret")
    page = stored_page(store, "E1")
    assert "secret" not in page
    assert page_data(page)["audio"] is None
    assert "audio source left out" in caplog.text
    assert "secret" not in caplog.text


def test_an_unreadable_audit_becomes_a_note(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    put_artifacts(store, sample_episode("E1"))
    store.put_bytes(keys.audit_key("E1"), b"{not json")
    write_report(store, "E1")
    page = stored_page(store, "E1")
    assert "diarization/E1.audit.json could not be read" in page
    assert "No audit artifact for this run." in page


# --- the command ------------------------------------------------------------------------------


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_report_command_stores_the_page_and_writes_a_copy(tmp_path: Path, runner: CliRunner) -> None:
    store = LocalStore(tmp_path / "store")
    put_artifacts(store, sample_episode("E1"))
    out = tmp_path / "E1.html"
    result = runner.invoke(app, ["report", "E1", "--store", str(tmp_path / "store"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["diarization/E1.report.html", str(out)]
    assert out.read_bytes() == store.get_bytes(keys.report_key("E1"))


def test_report_command_takes_the_store_from_the_environment(tmp_path: Path, runner: CliRunner) -> None:
    store = LocalStore(tmp_path)
    put_artifacts(store, sample_episode("E1"))
    result = runner.invoke(app, ["report", "E1", "--audio", "../audio/E1.wav"], env={"DIARFLOW_STORE": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert page_data(stored_page(store, "E1"))["audio"] == "../audio/E1.wav"


def test_report_command_refuses_a_bad_id_or_audio_with_usage_errors(tmp_path: Path, runner: CliRunner) -> None:
    bad_id = runner.invoke(app, ["report", "../E1", "--store", str(tmp_path)])
    assert bad_id.exit_code == 2
    assert "episode_id" in bad_id.stderr
    bad_audio = runner.invoke(app, ["report", "E1", "--store", str(tmp_path), "--audio", "javascript:alert(1)"])
    assert bad_audio.exit_code == 2
    assert "--audio" in bad_audio.stderr
    assert not any(tmp_path.iterdir())


def test_report_command_without_artifacts_says_so_and_exits_1(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DIARFLOW_")}
    done = subprocess.run(
        [sys.executable, "-m", "diarflow", "report", "E1", "--store", str(tmp_path)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error: no enriched transcript for episode E1")
    assert "Traceback" not in done.stderr
