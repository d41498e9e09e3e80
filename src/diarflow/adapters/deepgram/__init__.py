"""Deepgram: the pre-recorded transcription client."""

from diarflow.adapters.deepgram._client import (
    DEFAULT_API_URL,
    DEFAULT_PARAMS,
    DEFAULT_TIMEOUT,
    KEY_ENV,
    DeepgramClient,
    DeepgramTranscript,
    audio_content_type,
    check_response,
)

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_PARAMS",
    "DEFAULT_TIMEOUT",
    "KEY_ENV",
    "DeepgramClient",
    "DeepgramTranscript",
    "audio_content_type",
    "check_response",
]
