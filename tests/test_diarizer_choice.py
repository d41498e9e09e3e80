"""``auto`` is decided from the settings it is given, never from the process environment."""

from __future__ import annotations

import pytest

from diarflow.config import DIARIZER_CHOICES, DiarizerChoice, Secret, Settings
from diarflow.orchestration import diarizers
from diarflow.orchestration.diarizers import resolve_diarizer


@pytest.fixture(autouse=True)
def no_local_diarizer(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whether the [local] extra is installed varies by machine; pin it so auto's second branch is known.
    monkeypatch.setattr(diarizers, "local_diarizer_installed", lambda: False)


def test_auto_picks_pyannote_from_the_key_in_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYANNOTEAI_API_KEY", raising=False)
    settings = Settings.from_env({}, pyannote_api_key=Secret("pk-from-settings"))
    assert resolve_diarizer("auto", settings) == "pyannote"


def test_auto_ignores_a_key_only_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYANNOTEAI_API_KEY", "pk-only-in-the-environment")
    assert resolve_diarizer("auto", Settings.from_env({})) == "deepgram"


def test_the_key_still_comes_from_the_environment_through_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYANNOTEAI_API_KEY", "pk-read-by-settings")
    assert resolve_diarizer("auto", Settings.from_env()) == "pyannote"


@pytest.mark.parametrize("choice", [c for c in DIARIZER_CHOICES if c != "auto"])
def test_an_explicit_choice_is_kept(choice: DiarizerChoice) -> None:
    assert resolve_diarizer(choice, Settings.from_env({})) == choice
