"""The exception tree lives in one module, and one registry says what each error means for the caller."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

import diarflow
from diarflow import errors
from diarflow.adapters.stores import LocalStore, put_json
from diarflow.cli import app
from diarflow.contracts import PipelineResult, keys
from diarflow.errors import (
    AudioError,
    DiarflowError,
    InvalidInput,
    InvalidVoiceprintEntry,
    RemoteRateLimited,
    StorageUnavailable,
    classify,
)
from diarflow.orchestration import stages
from tests.episodes import SPEC_TURNS, transcript_from_turns

# Exceptions that are not errors a caller sees, and why.
NOT_IN_THE_TREE = {
    "diarflow.orchestration.inngest_engine.StepAttemptFailed": "the SDK's carrier of a DiarflowError to the executor",
    "diarflow.service.guards._TooLarge": "private control flow inside one middleware",
}


def exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of the package, by its qualified name."""
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(diarflow.__path__, "diarflow."):
        if module_info.name.endswith("__main__"):
            continue  # running it starts the CLI
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = value
    return found


def test_every_exception_of_the_package_is_in_errors_exported_and_a_diarflow_error() -> None:
    classes = {name: cls for name, cls in exception_classes().items() if name not in NOT_IN_THE_TREE}
    assert len(classes) > 30
    for qualified, cls in classes.items():
        assert cls.__module__ == "diarflow.errors", qualified
        assert issubclass(cls, DiarflowError), qualified
        assert cls.__name__ in errors.__all__, qualified
        assert getattr(diarflow, cls.__name__) is cls, qualified
        assert cls.__doc__, qualified


def test_old_import_locations_still_work() -> None:
    from diarflow.adapters.diarizers.local.audio import AudioError as FromAudio
    from diarflow.adapters.http import RemoteRateLimited as FromHttp
    from diarflow.adapters.pyannote import WebhookRejected as FromPyannote
    from diarflow.adapters.registry import InvalidVoiceprintEntry as FromRegistry
    from diarflow.adapters.url_policy import InvalidUrl as FromPolicy
    from diarflow.orchestration.lease import EpisodeBusy as FromLease

    assert FromAudio is AudioError
    assert FromHttp is RemoteRateLimited
    assert FromPyannote is errors.WebhookRejected
    assert FromRegistry is InvalidVoiceprintEntry
    assert FromPolicy is errors.InvalidUrl
    assert FromLease is errors.EpisodeBusy
    assert issubclass(errors.WebhookRejected, errors.RequestRejected)


@pytest.mark.parametrize(
    ("error", "invalid_input", "retryable", "exit_code"),
    [
        (AudioError, True, False, 2),  # bad audio the user named: their input
        ("AudioError", True, False, 2),
        ("InvalidUrl", True, False, 2),
        ("VoiceprintNotFound", True, False, 2),
        (InvalidVoiceprintEntry, False, False, 1),  # a corrupt stored entry: the store's content, not the input
        ("InvalidVoiceprintEntry", False, False, 1),
        (StorageUnavailable("s3 timed out"), False, True, 1),
        ("RemoteRateLimited", False, True, 1),
        ("EpisodeBusy", False, True, 1),
        ("DiarizerUnavailable", False, False, 1),
        ("InvalidStepOutput", False, False, 1),  # recorded by the Inngest engine, no class: not the caller's input
        ("KeyError", False, False, 1),  # a bug, recorded by name
        (ValueError("x"), False, False, 1),
    ],
)
def test_the_registry_follows_the_tree(error: Any, invalid_input: bool, retryable: bool, exit_code: int) -> None:
    found = classify(error)
    assert (found.invalid_input, found.retryable, found.exit_code) == (invalid_input, retryable, exit_code)


def test_every_input_error_is_non_retryable_and_exits_2() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        if inspect.isclass(cls) and issubclass(cls, InvalidInput):
            assert cls.retryable is False, f"{name} declares itself retryable: retrying bad input cannot help"
            assert classify(cls) == classify(name) == errors.ErrorClass(name, invalid_input=True, retryable=False)
            assert classify(name).exit_code == 2


# --- the real CLI --------------------------------------------------------------------------------------------

runner = CliRunner()


def run_failing_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: DiarflowError) -> tuple[int, Any]:
    """``diarflow run`` where every diarizer (the fallback too) fails with ``error``: the run fails with it."""

    def diarize(*args: object, **kwargs: object) -> object:
        raise error

    monkeypatch.setattr(stages, "diarize", diarize)
    transcript = tmp_path / "episode.json"
    transcript.write_bytes(orjson.dumps(transcript_from_turns(SPEC_TURNS)))
    args = ["run", "--episode-id", "E1", "--transcript", str(transcript), "--store", str(tmp_path / "s"), "-q"]
    done = runner.invoke(app, [*args, "--diarizer", "local"])
    result = PipelineResult.model_validate_json(done.stdout)
    assert result.status == "failed", done.stdout
    return done.exit_code, result


def test_a_run_failing_on_unreadable_audio_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, result = run_failing_with(tmp_path, monkeypatch, AudioError(f"file not found: {tmp_path / 'gone.wav'}"))
    assert result.error.type == "AudioError"
    assert code == 2


def test_a_run_failing_on_a_corrupt_voiceprint_entry_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = InvalidVoiceprintEntry("voiceprint entry voiceprints/P1/v1.json is not valid", key="voiceprints/P1/v1.json")
    code, result = run_failing_with(tmp_path, monkeypatch, entry)
    assert result.error.type == "InvalidVoiceprintEntry"
    assert code == 1


def test_listing_a_corrupt_voiceprint_entry_exits_1(tmp_path: Path) -> None:
    store = tmp_path / "store"
    put_json(LocalStore(store), keys.voiceprint_key("P1", "v1"), {"voiceprint_id": "v1"})
    done = runner.invoke(app, ["voiceprints", "list", "--podcast-id", "P1", "--store", str(store)])
    assert done.exit_code == 1, done.stderr
    assert "voiceprints/P1/v1.json" in done.stderr


def test_enrolment_errors_name_the_commands_options(tmp_path: Path) -> None:
    """Enrolment names fields (``end``, ``start``); ``enroll`` prints them as its options."""
    from diarflow.orchestration.enrollment import check_range

    with pytest.raises(InvalidInput) as caught:
        check_range(5.0, 4.0)
    assert caught.value.field == "end"
    assert "--" not in caught.value.message
    base = ["voiceprints", "enroll", str(tmp_path / "a.wav"), "--podcast-id", "show", "--name", "Diane"]
    done = runner.invoke(app, [*base, "--start", "5", "--end", "4", "--store", str(tmp_path / "s")])
    assert done.exit_code == 2
    assert "error: --end: must be after --start (5.0), got 4.0" in done.stderr
