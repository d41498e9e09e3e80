"""The pyannoteAI HTTP client: jobs, voiceprints, identification and media upload.

Built on :class:`~diarflow.adapters.http.ApiCaller`, so every call has a
timeout and transient failures are retried with backoff; the official SDK has
neither. Request bodies follow the API reference (docs.pyannote.ai).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from diarflow.adapters.http import (
    ApiCaller,
    RetryPolicy,
    Timeouts,
    error_body_text,
)
from diarflow.adapters.pyannote._models import (
    DEFAULT_MODEL,
    DiarizeRequest,
    IdentifyRequest,
    Job,
    JobCreated,
    MatchingOptions,
    MediaInputRequest,
    MediaUpload,
    VoiceprintEntry,
    VoiceprintRequest,
)
from diarflow.domain.speaker_counts import check_speaker_counts
from diarflow.errors import InvalidInput, JobNotFound, RemoteRequestRejected, RemoteResponseInvalid, request_id_note

DEFAULT_API_URL = "https://api.pyannote.ai"
KEY_ENV = "PYANNOTEAI_API_KEY"
SERVICE = "pyannoteAI"

MAX_FILE_BYTES = 1024**3
"""The API's documented limit per audio file for diarization and identification (1 GiB)."""
MAX_DURATION_SECONDS = 24 * 3600.0
"""The API's documented limit of audio duration (24 h)."""
MAX_VOICEPRINT_SECONDS = 30.0
UPLOAD_CHUNK_BYTES = 1024 * 1024

_MEDIA_KEY = re.compile(r"[A-Za-z0-9\-_./]{1,247}")  # 255 with the "media://" prefix
_REMOTE_SCHEMES = ("https://", "http://", "media://")


ModelT = TypeVar("ModelT", bound=BaseModel)


class PyannoteClient:
    """A synchronous pyannoteAI client; use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_API_URL,
        timeouts: Timeouts | None = None,
        upload_timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise InvalidInput(KEY_ENV, "is not set: create a key in the pyannoteAI dashboard and export it")
        self.base_url = base_url.rstrip("/")
        retry = retry or RetryPolicy()
        api_client = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=(timeouts or Timeouts(read=30.0)).to_httpx(),
            transport=transport,
            follow_redirects=False,
        )
        # The upload goes to a pre-signed storage URL: a separate client, so the API key is never sent there.
        storage_client = httpx.Client(
            timeout=(upload_timeouts or Timeouts(read=300.0, write=300.0)).to_httpx(),
            transport=transport,
            follow_redirects=False,
        )
        self._api = ApiCaller(
            SERVICE,
            KEY_ENV,
            api_client,
            retry,
            secrets=(api_key,),
            describe_error=error_body_text,
            request_id_of=error_request_id,
        )
        self._storage = ApiCaller(SERVICE, KEY_ENV, storage_client, retry, secrets=(api_key,))

    # -- lifecycle --

    def close(self) -> None:
        self._api.client.close()
        self._storage.client.close()

    def __enter__(self) -> PyannoteClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- API --

    def test_key(self) -> None:
        """``GET /v1/test``: raises :class:`~diarflow.adapters.http.RemoteAuthenticationFailed` for a bad key."""
        self._api.request("GET", "/v1/test")

    def diarize(
        self,
        url: str,
        *,
        model: str | None = DEFAULT_MODEL,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        confidence: bool = False,
        turn_level_confidence: bool = True,
        exclusive: bool = True,
        webhook: str | None = None,
        webhook_status_only: bool = True,
    ) -> JobCreated:
        """Start a diarization job. Defaults ask for turn-level confidence and exclusive turns.

        ``webhook_status_only`` keeps webhook bodies small: the output is
        fetched with :meth:`get_job` by the collect step either way.
        """
        check_speaker_counts(num_speakers, min_speakers, max_speakers)
        body = DiarizeRequest(
            url=url,
            model=model,
            num_speakers=num_speakers,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            confidence=confidence or None,
            turn_level_confidence=turn_level_confidence or None,
            exclusive=exclusive or None,
            webhook=webhook,
            webhook_status_only=(webhook_status_only or None) if webhook else None,
        )
        return self._create_job("/v1/diarize", body.to_wire())

    def identify(
        self,
        url: str,
        voiceprints: Sequence[tuple[str, str]],
        *,
        threshold: float | None = None,
        exclusive_matching: bool = True,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        turn_level_confidence: bool = True,
        exclusive: bool = True,
        webhook: str | None = None,
        webhook_status_only: bool = True,
    ) -> JobCreated:
        """Start an identification job against ``(label, voiceprint)`` pairs; ``threshold`` is 0–100."""
        if not 1 <= len(voiceprints) <= 50:
            raise InvalidInput("voiceprints", f"pyannoteAI accepts 1 to 50 voiceprints, got {len(voiceprints)}")
        for label, _ in voiceprints:
            if label.upper().startswith("SPEAKER_"):
                raise InvalidInput("voiceprints.label", f"{label!r}: pyannoteAI labels may not start with SPEAKER_")
        check_speaker_counts(num_speakers, min_speakers, max_speakers)
        body = IdentifyRequest(
            url=url,
            voiceprints=[VoiceprintEntry(label=label, voiceprint=vp) for label, vp in voiceprints],
            matching=MatchingOptions(exclusive=exclusive_matching, threshold=threshold),
            num_speakers=num_speakers,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
            turn_level_confidence=turn_level_confidence or None,
            exclusive=exclusive or None,
            webhook=webhook,
            webhook_status_only=(webhook_status_only or None) if webhook else None,
        )
        return self._create_job("/v1/identify", body.to_wire())

    def voiceprint(self, url: str, *, webhook: str | None = None) -> JobCreated:
        """Start a voiceprint job for ≤ 30 s of one speaker's audio."""
        body = VoiceprintRequest(url=url, webhook=webhook)
        return self._create_job("/v1/voiceprint", body.to_wire())

    def get_job(self, job_id: str) -> Job:
        """``GET /v1/jobs/{jobId}``; :class:`JobNotFound` when the job (or its expired output) is gone."""
        if not job_id or "/" in job_id:
            raise InvalidInput("job_id", f"{job_id!r} is not a pyannoteAI job id")
        try:
            data = self._api.request_json("GET", f"/v1/jobs/{quote(job_id, safe='')}", what="GET /v1/jobs/{jobId}")
        except RemoteRequestRejected as exc:
            if exc.status_code == 404:
                raise JobNotFound(
                    f"{SERVICE}: job {job_id} was not found{request_id_note(exc.request_id)} "
                    "(its output is deleted 24 h after completion)",
                    status_code=404,
                    request_id=exc.request_id,
                ) from None
            raise
        return _validate(Job, data, "GET /v1/jobs/{jobId}")

    def create_upload_url(self, media_url: str) -> str:
        """``POST /v1/media/input``: declare ``media://key`` and get the pre-signed URL to PUT the bytes to."""
        key = media_url.removeprefix("media://")
        if not media_url.startswith("media://") or _MEDIA_KEY.fullmatch(key) is None:
            raise InvalidInput(
                "media_url", f"{media_url[:80]!r} must be media://KEY with KEY of letters, digits, - _ . / (≤ 247)"
            )
        data = self._api.request_json(
            "POST", "/v1/media/input", json=MediaInputRequest(url=media_url).to_wire(), expected=(200, 201)
        )
        return _validate(MediaUpload, data, "POST /v1/media/input").url

    def upload_file(self, path: str | os.PathLike[str], media_url: str, *, duration: float | None = None) -> str:
        """Upload a local audio file as ``media_url`` (streamed, never read whole) and return ``media_url``.

        Limits are checked before anything is sent, so an oversized file costs no request.
        """
        file_path = Path(path)
        try:
            size = file_path.stat().st_size
        except OSError as exc:
            raise InvalidInput("audio", f"{file_path}: cannot read the file ({exc.strerror})") from None
        if not file_path.is_file():
            raise InvalidInput("audio", f"{file_path} is not a file")
        check_audio_limits(size_bytes=size, duration=duration)
        upload_url = self.create_upload_url(media_url)
        self._storage.request(
            "PUT",
            upload_url,
            content=lambda: _read_chunks(file_path),
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
            expected=(200, 201, 204),
            what="upload PUT to pyannoteAI media storage",
        )
        return media_url

    def audio_url(self, audio: str, *, episode_id: str, duration: float | None = None) -> str:
        """The URL pyannoteAI should read: remote URLs as they are, local files uploaded first."""
        if audio.startswith(_REMOTE_SCHEMES):
            check_audio_limits(size_bytes=None, duration=duration)
            return audio
        suffix = re.sub(r"[^A-Za-z0-9.]", "", Path(audio).suffix)[:10]
        return self.upload_file(audio, f"media://diarflow/{episode_id}/audio{suffix}", duration=duration)

    # -- internals --

    def _create_job(self, path: str, body: dict[str, Any]) -> JobCreated:
        # A job-creating POST is paid work: not retried after the request was sent (see adapters.http).
        data = self._api.request_json("POST", path, json=body, expected=(200, 201), idempotent=False)
        return _validate(JobCreated, data, f"POST {path}")


def check_audio_limits(*, size_bytes: int | None, duration: float | None) -> None:
    """Refuse audio over pyannoteAI's documented limits (1 GiB, 24 h) before any upload or job."""
    if size_bytes is not None and size_bytes > MAX_FILE_BYTES:
        raise InvalidInput(
            "audio",
            f"is {size_bytes / 1024**3:.2f} GiB; pyannoteAI accepts files up to 1 GiB: "
            "re-encode it (e.g. mono 16 kHz MP3/Opus) or choose `diarizer` local",
        )
    if duration is not None and duration > MAX_DURATION_SECONDS:
        raise InvalidInput(
            "audio",
            f"lasts {duration / 3600:.1f} h; pyannoteAI accepts up to 24 h of audio: split the episode "
            "or choose `diarizer` local",
        )


def error_request_id(response: httpx.Response) -> str | None:
    """``requestId`` of an error body: the API documents ``ApiError {requestId, message}`` for 402 and 429.

    Read from any error answer that carries one; a 400 (``{message, errors[]}``) has none.
    No request-id header is documented, so none is read.
    """
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    value = body.get("requestId") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _read_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(UPLOAD_CHUNK_BYTES):
            yield chunk


def _json_path(loc: Sequence[int | str]) -> str:
    """``("output", "voiceprints", 0, "match")`` as ``output.voiceprints[0].match``, the field's JSON path."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _validate(model: type[ModelT], data: Any, label: str) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _json_path(first["loc"]) or "body"
        raise RemoteResponseInvalid(
            f"{SERVICE}: {label} answered with an unexpected body: {where}: {first['msg']}"
        ) from None
