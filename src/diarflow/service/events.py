"""Sending trigger events to Inngest: one episode (``diarflow trigger``) or many (``diarflow backfill``).

Events go through the Inngest client, so the SDK's own configuration applies:
``INNGEST_EVENT_KEY`` (required outside dev mode), ``INNGEST_DEV`` (a dev
server, ``1`` for http://127.0.0.1:8288 or its URL), ``INNGEST_BASE_URL`` /
``INNGEST_EVENT_API_BASE_URL`` (a self-hosted server).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from diarflow.config import Settings
from diarflow.contracts import (
    TRANSCRIBE_REQUESTED,
    TRANSCRIBED,
    DiarizeRequested,
    TranscribeRequested,
    keys,
    parse_event_data,
)
from diarflow.errors import InvalidConfig, InvalidInput, RemoteServiceError, RemoteServiceUnavailable
from diarflow.orchestration.steps import Event
from diarflow.redaction import redact

if TYPE_CHECKING:
    import inngest

MAX_EVENTS_PER_REQUEST = 5000
"""Inngest accepts at most 5,000 events in one send request."""
MAX_REQUEST_BYTES = 1024 * 1024
"""Payload budget per send request: batches are cut before they grow past it."""


@dataclass(frozen=True)
class EpisodeTrigger:
    """What to run for one episode: diarize a stored transcript, or transcribe the audio first."""

    episode_id: str
    audio_url: str | None = None
    transcript_key: str | None = None
    podcast_id: str | None = None
    transcribe: bool = False

    def event(self, rerun: str | None = None) -> Event:
        """The validated trigger event; ``rerun`` makes it a new run despite the idempotency key."""
        data: dict[str, Any] = {"episode_id": self.episode_id}
        if self.podcast_id:
            data["podcast_id"] = self.podcast_id
        if rerun:
            data["rerun"] = rerun
        if self.transcribe:
            if not self.audio_url:
                raise InvalidInput("audio_url", "is required to transcribe: give the episode's audio URL")
            data["audio_url"] = self.audio_url
            model: type[TranscribeRequested | DiarizeRequested] = TranscribeRequested
            name = TRANSCRIBE_REQUESTED
        else:
            if self.audio_url:
                data["audio_url"] = self.audio_url
            data["transcript_key"] = self.transcript_key or keys.transcript_key(self.episode_id)
            model = DiarizeRequested
            name = TRANSCRIBED
        parse_event_data(model, data)  # fail here, naming the field, rather than in the function
        return {"name": name, "data": data}


def new_rerun_token() -> str:
    """A fresh rerun token: sortable by time, unique across machines."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def event_client(settings: Settings) -> inngest.Inngest:
    """An Inngest client for sending events, configured by the INNGEST_* variables."""
    import inngest

    try:
        client = inngest.Inngest(app_id=settings.app_id)
    except Exception as exc:  # the SDK raises its own errors for malformed base URLs
        raise InvalidConfig("INNGEST_BASE_URL", redact(str(exc))) from None
    if client.is_production and not client.event_key:
        raise InvalidConfig(
            "INNGEST_EVENT_KEY",
            "is not set: create an event key in Inngest (or use a dev server with INNGEST_DEV=1)",
        )
    return client


def batches(
    events: Iterable[Event], *, size: int = MAX_EVENTS_PER_REQUEST, max_bytes: int = MAX_REQUEST_BYTES
) -> Iterator[list[Event]]:
    """Group events into send requests of at most ``size`` events and about ``max_bytes`` of JSON."""
    size = max(1, min(size, MAX_EVENTS_PER_REQUEST))
    batch: list[Event] = []
    used = 2  # the brackets of the JSON array
    for event in events:
        cost = len(orjson.dumps(event)) + 1
        if batch and (len(batch) >= size or used + cost > max_bytes):
            yield batch
            batch, used = [], 2
        batch.append(event)
        used += cost
    if batch:
        yield batch


def send(client: inngest.Inngest, events: list[Event]) -> list[str]:
    """Send one request's worth of events; returns their ids. Errors say what to check."""
    import httpx
    import inngest

    payload = [inngest.Event(name=e["name"], data=e.get("data") or {}, id=e.get("id") or "") for e in events]
    where = client.event_api_origin
    try:
        return client.send_sync(payload)
    except httpx.HTTPError as exc:
        raise _unreachable(where, type(exc).__name__) from None
    except Exception as exc:  # SendEventsError and friends: the server refused the events
        if str(exc).startswith("never received response"):  # the SDK's words after its own 5 connection attempts
            raise _unreachable(where, "no response") from None
        raise RemoteServiceError(
            f"Inngest at {where} refused the events: {redact(str(exc))[:300]} (check INNGEST_EVENT_KEY)"
        ) from None


def _unreachable(where: str, why: str) -> RemoteServiceUnavailable:
    return RemoteServiceUnavailable(
        f"Inngest at {where} did not answer ({why}): is the server running? Check INNGEST_DEV / INNGEST_BASE_URL"
    )
