"""The command line as a user runs it: a real process, stdout for JSON, stderr for the rest, exit codes."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from diarflow.adapters.stores import LocalStore, get_json
from diarflow.contracts import MAX_RESULT_BYTES, PipelineResult, keys
from tests.episodes import SPEC_TURNS, transcript_from_turns


def diarflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**_without_diarflow_env(), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "diarflow", *args], capture_output=True, text=True, env=environment, timeout=300
    )


@pytest.fixture
def transcript_file(tmp_path: Path) -> Path:
    path = tmp_path / "episode.json"
    path.write_bytes(orjson.dumps(transcript_from_turns(SPEC_TURNS)))
    return path


def test_run_prints_only_the_result_json_on_stdout(tmp_path: Path, transcript_file: Path) -> None:
    store = tmp_path / "store"
    done = diarflow(
        "run",
        "--episode-id",
        "E1",
        "--transcript",
        str(transcript_file),
        "--store",
        str(store),
        "--diarizer",
        "deepgram",
    )
    assert done.returncode == 0, done.stderr
    result = PipelineResult.model_validate_json(done.stdout)
    assert result.status == "completed"
    assert result.stats.num_segments == 3
    assert len(done.stdout.encode()) < MAX_RESULT_BYTES
    assert "enrich-transcript-v1" in done.stderr  # progress goes to stderr
    assert LocalStore(store).exists(keys.enriched_key("E1"))


def test_store_comes_from_the_environment(tmp_path: Path, transcript_file: Path) -> None:
    store = tmp_path / "from-env"
    done = diarflow(
        "run",
        "--episode-id",
        "E2",
        "--transcript",
        str(transcript_file),
        "-q",
        env={"DIARFLOW_STORE": f"file://{store}", "DIARFLOW_DIARIZER": "deepgram"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert LocalStore(store).exists(keys.audit_key("E2"))


def test_invalid_transcript_exits_2_names_the_field_and_changes_nothing_else(
    tmp_path: Path, transcript_file: Path
) -> None:
    store_dir = tmp_path / "store"
    assert (
        diarflow(
            "run",
            "--episode-id",
            "E3",
            "--transcript",
            str(transcript_file),
            "--store",
            str(store_dir),
            "--diarizer",
            "deepgram",
        ).returncode
        == 0
    )
    store = LocalStore(store_dir)
    before = {key: store.get_bytes(key) for key in store.list("") if not key.endswith(".error.json")}

    document: dict[str, Any] = orjson.loads(transcript_file.read_bytes())
    document["results"]["channels"][0]["alternatives"][0]["words"][5]["end"] = "soon"
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps(document))
    done = diarflow("run", "--episode-id", "E3", "--transcript", str(bad), "--store", str(store_dir))

    assert done.returncode == 2
    assert done.stdout == ""
    assert 'results.channels[0].alternatives[0].words[5].end: must be a number, got "soon"' in done.stderr
    assert "Traceback" not in done.stderr
    error = get_json(store, keys.error_key("E3"))
    assert error["status"] == "failed"
    assert error["errors"][0]["type"] == "InvalidTranscript"
    after = {key: store.get_bytes(key) for key in store.list("") if not key.endswith(".error.json")}
    assert after == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--episode-id", "../etc", "--transcript", "x.json"], "--episode-id: '../etc' is not a valid id"),
        (
            ["run", "--episode-id", "E4", "--transcript", "/no/such/file.json"],
            "--transcript: /no/such/file.json does not exist",
        ),
        (["run", "--episode-id", "E4"], "--transcript is required"),
        (["run", "--episode-id", "E4", "--transcript", "x", "--store", "ftp://host/x"], "unsupported store URL scheme"),
    ],
)
def test_bad_usage_exits_2_with_a_message_and_no_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    if "--store" not in args:
        args = [*args, "--store", str(tmp_path / "store")]
    done = diarflow(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_configuration_names_the_variable(tmp_path: Path, transcript_file: Path) -> None:
    done = diarflow(
        "run",
        "--episode-id",
        "E5",
        "--transcript",
        str(transcript_file),
        "--store",
        str(tmp_path),
        env={"DIARFLOW_NEAR_MISS_MARGIN": "lots"},
    )
    assert done.returncode == 2
    assert "DIARFLOW_NEAR_MISS_MARGIN: must be a number, got 'lots'" in done.stderr


def test_a_run_failing_on_its_input_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "nospeakers.json"
    path.write_bytes(orjson.dumps({"words": [{"start": 0, "end": 1, "word": "hi"}]}))
    done = diarflow(
        "run", "--episode-id", "E6", "--transcript", str(path), "--store", str(tmp_path / "s"), "--diarizer", "deepgram"
    )
    # The transcript itself is valid; the fallback cannot diarize it: an invalid-input failure.
    assert done.returncode == 2
    result = PipelineResult.model_validate_json(done.stdout)
    assert result.status == "failed"
    assert result.s3_error_key == "diarization/E6.error.json"


def test_show_prints_speakers_talk_time_and_words(tmp_path: Path, transcript_file: Path) -> None:
    store = str(tmp_path / "store")
    diarflow(
        "run", "--episode-id", "E7", "--transcript", str(transcript_file), "--store", store, "--diarizer", "deepgram"
    )
    done = diarflow("show", "E7", "--store", store)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "SPEAKER_" in line]
    assert len(lines) == 2
    assert "A" in lines[0]
    assert "0:06" in lines[0]
    assert "8" in lines[0]
    assert "B" in lines[1]
    assert "0:02" in lines[1]
    assert "4" in lines[1]
    assert "deepgram_fallback" in done.stdout


def test_show_of_an_unknown_episode_says_what_to_do(tmp_path: Path) -> None:
    done = diarflow("show", "NOPE", "--store", str(tmp_path))
    assert done.returncode == 1
    assert "run `diarflow run` first" in done.stderr


def test_every_command_has_working_help() -> None:
    from typer.testing import CliRunner

    from diarflow.cli import app

    runner = CliRunner()
    names = [command.name for command in app.registered_commands] + [group.name for group in app.registered_groups]
    assert {"run", "show", "demo"} <= set(names)
    for name in names:
        done = runner.invoke(app, [str(name), "--help"])
        assert done.exit_code == 0, (name, done.output)
        assert "Usage" in done.output


def test_the_console_script_freezes_its_imports_and_an_embedding_program_keeps_its_collector(
    tmp_path: Path, transcript_file: Path
) -> None:
    # The console script exempts its imports from GC scans (a measured ~15 % of a large run) ...
    script = (
        "import gc, sys\nfrom diarflow.cli import main\ntry:\n    main()\nfinally:\n    print(gc.get_freeze_count())"
    )
    args = ["run", "--episode-id", "E1", "--transcript", str(transcript_file), "--diarizer", "deepgram", "-q"]
    done = subprocess.run(
        [sys.executable, "-c", script, *args, "--store", str(tmp_path / "a")],
        capture_output=True,
        text=True,
        timeout=300,
        env=_without_diarflow_env(),
    )
    assert "completed" in done.stdout, done.stderr
    frozen = int(done.stdout.split()[-1])
    assert frozen > 10_000, done.stderr  # modules, classes and schemas of the CLI and the pipeline
    # ... while the same command run inside another program (here, typer's test runner) freezes nothing.
    from typer.testing import CliRunner

    from diarflow.cli import app

    before = gc.get_freeze_count()
    outcome = CliRunner().invoke(app, [*args, "--store", str(tmp_path / "b")])
    assert outcome.exit_code == 0, outcome.output
    assert gc.get_freeze_count() == before


def _without_diarflow_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("DIARFLOW_", "PYANNOTEAI_", "DEEPGRAM_"))}


def test_a_diarizer_that_does_not_exist_is_refused_naming_the_option(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from diarflow.cli import app

    transcript = tmp_path / "t.json"
    transcript.write_text('{"words": []}')
    outcome = CliRunner().invoke(
        app,
        ["run", "--episode-id", "E1", "--transcript", str(transcript), "--diarizer", "bogus", "--store", str(tmp_path)],
    )
    assert outcome.exit_code == 2, outcome.output
    assert "--diarizer: must be one of auto, deepgram, local, pyannote, channels, got 'bogus'" in outcome.output
    assert "Traceback" not in outcome.output


def test_step_errors_name_fields_and_the_cli_spells_them_as_its_options(tmp_path: Path) -> None:
    """The local diarizer without audio: the stored error names the field, the CLI says --audio."""
    from diarflow.adapters.stores import LocalStore, get_json
    from diarflow.contracts import keys
    from tests import recut
    from tests.reliability import diarflow_cli, run_args

    transcript = recut.SAMPLES / "sample.deepgram.json"
    done = diarflow_cli(*run_args("E1", transcript, tmp_path / "store", "--diarizer", "local"), env={"COLUMNS": "300"})
    assert done.returncode == 0, done.stderr  # Deepgram's own labels stand in: a partial run
    assert "diarizer needs the episode audio: give --audio (an audio_url in the event)" in done.stderr
    stored = get_json(LocalStore(tmp_path / "store"), keys.error_key("E1"))
    (error,) = stored["errors"]
    assert error["message"] == "the local diarizer needs the episode audio: give `audio` (an `audio_url` in the event)"
    assert "--" not in error["message"]
