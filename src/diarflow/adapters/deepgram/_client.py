"""The Deepgram pre-recorded client: ``POST /v1/listen`` for a URL or a streamed local file.

Podcasts are long: Deepgram answers only once the whole file is transcribed,
so the read timeout is long (10 minutes by default) while connecting stays
quick. The raw response is returned byte for byte, after checking it is a
transcript, so the step can store exactly what Deepgram said.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import orjson

from diarflow.adapters.http import ApiCaller, RetryPolicy, Timeouts
from diarflow.domain.transcript import Transcript, parse_transcript
from diarflow.errors import InvalidInput, InvalidTranscript, RemoteResponseInvalid

DEFAULT_API_URL = "https://api.deepgram.com"
KEY_ENV = "DEEPGRAM_API_KEY"
SERVICE = "Deepgram"
DEFAULT_TIMEOUT = 600.0
"""Seconds to wait for the transcript of one request (a multi-hour episode takes minutes)."""
DEFAULT_PARAMS: Mapping[str, str] = {
    "model": "nova-3",
    "smart_format": "true",
    "diarize": "true",
    "utterances": "true",
}
UPLOAD_CHUNK_BYTES = 1024 * 1024

# mimetypes lacks or misnames several audio types on minimal systems; Deepgram wants the real one.
_AUDIO_TYPES = {
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".webm": "audio/webm",
}


@dataclass(frozen=True)
class DeepgramTranscript:
    """A checked ``/v1/listen`` response: the bytes to store and the numbers to report."""

    body: bytes
    words: int
    duration: float
    request_id: str | None
    transcript: Transcript
    """The parsed words (none at all for silent audio)."""


class DeepgramClient:
    """A synchronous Deepgram client; use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_API_URL,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        params: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise InvalidInput(KEY_ENV, "is not set: create a key in the Deepgram console and export it")
        self.params = dict(DEFAULT_PARAMS if params is None else params)
        timeouts = Timeouts(connect=connect_timeout, read=timeout, write=timeout, pool=connect_timeout)
        client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Token {api_key}", "Accept": "application/json"},
            timeout=timeouts.to_httpx(),
            transport=transport,
            follow_redirects=False,
        )
        self._api = ApiCaller(SERVICE, KEY_ENV, client, retry or RetryPolicy(), secrets=(api_key,))

    def close(self) -> None:
        self._api.client.close()

    def __enter__(self) -> DeepgramClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def transcribe(self, audio: str | os.PathLike[str]) -> DeepgramTranscript:
        """Transcribe a ``http(s)://`` URL (Deepgram fetches it) or a local file (streamed to Deepgram)."""
        audio_text = os.fspath(audio)
        if audio_text.startswith(("https://", "http://")):
            response = self._api.request(
                "POST", "/v1/listen", params=self.params, json={"url": audio_text}, idempotent=False
            )
        else:
            path = Path(audio_text)
            if not path.is_file():
                raise InvalidInput("audio", f"{path} is not a readable file (give a local path or an http(s) URL)")
            size = path.stat().st_size
            if size == 0:
                raise InvalidInput("audio", f"{path} is empty")
            response = self._api.request(
                "POST",
                "/v1/listen",
                params=self.params,
                content=lambda: _read_chunks(path),
                headers={"Content-Type": audio_content_type(path), "Content-Length": str(size)},
                idempotent=False,
            )
        return check_response(response.content)


def check_response(body: bytes) -> DeepgramTranscript:
    """Check that ``body`` is a ``/v1/listen`` transcript; :class:`RemoteResponseInvalid` names the defect."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise RemoteResponseInvalid(
            f"{SERVICE}: POST /v1/listen answered with {len(body)} bytes that are not JSON; nothing was stored, "
            "transcribe again"
        ) from None
    request_id = _request_id(document)
    where = f" (request_id {request_id})" if request_id else ""
    words = _words_of(document)
    if words is None:
        raise RemoteResponseInvalid(
            f"{SERVICE}: POST /v1/listen answered without results.channels[0].alternatives[0].words{where}; "
            "nothing was stored, transcribe again"
        )
    try:
        transcript = parse_transcript(body)
    except InvalidTranscript as exc:
        raise RemoteResponseInvalid(
            f"{SERVICE}: POST /v1/listen answered with a malformed transcript{where}: {exc}; nothing was stored"
        ) from None
    return DeepgramTranscript(body, len(transcript), transcript.duration, request_id, transcript)


def audio_content_type(path: Path) -> str:
    """The ``Content-Type`` to stream ``path`` with."""
    suffix = path.suffix.lower()
    if suffix in _AUDIO_TYPES:
        return _AUDIO_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed if guessed and guessed.startswith(("audio/", "video/")) else "application/octet-stream"


def _words_of(document: Any) -> list[Any] | None:
    try:
        words = document["results"]["channels"][0]["alternatives"][0]["words"]
    except (KeyError, IndexError, TypeError):
        return None
    return words if isinstance(words, list) else None


def _request_id(document: Any) -> str | None:
    if isinstance(document, dict):
        metadata = document.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("request_id"), str):
            return str(metadata["request_id"])[:80]
    return None


def _read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(UPLOAD_CHUNK_BYTES):
            yield chunk
