"""Webhooks and the Inngest endpoint: unsigned, forged, tampered, stale and oversized requests are refused.

The service runs in process (FastAPI's test client) in cloud mode, with its
event API pointed at a loopback recorder; a refused request must never
produce an event. Every request body is limited: 1 MiB on the webhook, 64 MiB
everywhere (``service/guards.py``), refused from the ``Content-Length`` alone
or as soon as a streamed body passes the limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jcs
import orjson
import pytest
from fastapi.testclient import TestClient

from diarflow.adapters.pyannote import sign
from diarflow.adapters.stores import LocalStore
from diarflow.config import Settings
from diarflow.contracts import TRANSCRIBED, keys
from diarflow.service.app import create_app
from diarflow.service.guards import MAX_REQUEST_BYTES, BodySizeLimit
from tests.fakes.server import FakeServer, Request, Response
from tests.inngest_helpers import sign_request
from tests.reliability import record

SECRET = "whs-test-FAKE-reliability-webhook"
SIGNING_KEY = "signkey-test-" + "5eed" * 16
WEBHOOK = "/webhooks/pyannote"
BODY = b'{"jobId": "job-1", "status": "succeeded"}'


@dataclass
class EventApi:
    """A loopback stand-in for Inngest's event API, recording what reaches it."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)


@pytest.fixture
def events() -> Iterator[EventApi]:
    api = EventApi()

    def handle(request: Request) -> Response:
        api.requests.append(request)
        return Response.json({"ids": ["e1"], "status": 200})

    with FakeServer(handle) as server:
        api.url = server.url
        yield api


@pytest.fixture
def client(events: EventApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TestClient]:
    for name in ("INNGEST_DEV", "INNGEST_SERVE_PATH", "INNGEST_SIGNING_KEY_FALLBACK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INNGEST_SIGNING_KEY", SIGNING_KEY)
    monkeypatch.setenv("INNGEST_EVENT_KEY", "event-key-test-FAKE")
    monkeypatch.setenv("INNGEST_BASE_URL", events.url)
    settings = Settings.from_env({"PYANNOTEAI_WEBHOOK_SECRET": SECRET, "DIARFLOW_DIARIZER": "deepgram"})
    app = create_app(settings, store=LocalStore(tmp_path / "store"))
    with TestClient(app) as test_client:
        yield test_client


def signed(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    stamp = str(int(time.time() if at is None else at))
    return {"X-Request-Timestamp": stamp, "X-Signature": sign(secret, stamp, body)}


def test_webhook_refuses_every_unsigned_forged_tampered_or_stale_request(client: TestClient, events: EventApi) -> None:
    refused: list[tuple[str, bytes, dict[str, str]]] = [
        ("no signature", BODY, {}),
        ("signature only", BODY, {"X-Signature": signed(BODY)["X-Signature"]}),
        ("wrong secret", BODY, signed(BODY, secret="whs-test-FAKE-someone-else")),
        ("tampered body", BODY.replace(b"job-1", b"job-2"), signed(BODY)),
        ("stale (10 min old)", BODY, signed(BODY, at=time.time() - 600)),
        ("from the future", BODY, signed(BODY, at=time.time() + 600)),
        ("garbage timestamp", BODY, {**signed(BODY), "X-Request-Timestamp": "yesterday"}),
        ("empty signature", BODY, {**signed(BODY), "X-Signature": ""}),
    ]
    for label, body, headers in refused:
        response = client.post(WEBHOOK, content=body, headers=headers)
        assert response.status_code == 401, (label, response.text)
    assert events.requests == []  # nothing reached Inngest

    accepted = client.post(WEBHOOK, content=BODY, headers=signed(BODY))
    assert accepted.status_code == 200, accepted.text
    assert len(events.requests) == 1
    record("webhook: unsigned/forged/tampered/stale refused", scenarios=len(refused) + 1, result="401, no event")


def test_webhook_and_inngest_bodies_are_size_limited(client: TestClient, events: EventApi) -> None:
    big = b"x" * (1024 * 1024 + 1)
    assert client.post(WEBHOOK, content=big, headers=signed(big)).status_code == 413

    def chunks(total: int, size: int = 1024 * 1024) -> Iterator[bytes]:
        sent = 0
        while sent < total:
            yield b"x" * size
            sent += size

    assert client.post(WEBHOOK, content=chunks(3 * 1024 * 1024), headers=signed(b"")).status_code == 413
    huge = b"{" + b" " * MAX_REQUEST_BYTES + b"}"
    response = client.post("/api/inngest", params={"fnId": "diarflow-diarize-episode", "stepId": "step"}, content=huge)
    assert response.status_code == 413
    assert "67,108,864" in response.json()["error"]
    streamed = client.post("/api/inngest", content=chunks(MAX_REQUEST_BYTES + 1024 * 1024))
    assert streamed.status_code == 413
    assert events.requests == []
    record("request body limits (webhook 1 MiB, service 64 MiB)", scenarios=4, result="413")


def test_an_oversized_body_is_refused_from_its_content_length_without_reading_it() -> None:
    called: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append("app")

    async def receive() -> dict[str, Any]:
        called.append("receive")
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/api/inngest", "headers": [(b"content-length", b"999999999999")]}
    asyncio.run(BodySizeLimit(app, limit=1024)(scope, receive, send))
    assert called == []
    assert sent[0]["status"] == 413


def inngest_payload(episode_id: str) -> bytes:
    event = {"name": TRANSCRIBED, "data": {"episode_id": episode_id, "transcript_key": keys.transcript_key(episode_id)}}
    ctx = {"run_id": "01RUN", "attempt": 0, "disable_immediate_execution": False, "stack": {"stack": []}}
    return orjson.dumps({"event": event, "events": [event], "steps": {}, "ctx": ctx, "use_api": False})


def test_the_inngest_endpoint_refuses_unsigned_forged_tampered_and_old_requests(client: TestClient) -> None:
    body = inngest_payload("SIG1")
    params = {"fnId": "diarflow-diarize-episode", "stepId": "step"}
    headers = {"content-type": "application/json", "x-inngest-server-kind": "cloud"}
    tampered = body.replace(b"SIG1", b"SIG2")
    now = int(time.time())
    cases = [
        ("unsigned", body, {}),
        ("forged key", body, {"x-inngest-signature": sign_request(body, "signkey-test-" + "00" * 32)}),
        ("tampered body", tampered, {"x-inngest-signature": sign_request(body, SIGNING_KEY)}),
        ("signed an hour ago", body, {"x-inngest-signature": sign_request(body, SIGNING_KEY, now - 3600)}),
        ("signed 10 minutes in the future", body, {"x-inngest-signature": sign_request(body, SIGNING_KEY, now + 600)}),
        ("signature without a time", body, {"x-inngest-signature": _untimed(body)}),
        ("malformed signature", body, {"x-inngest-signature": "t=1&s=zz"}),
        ("claims to be the dev server", body, {"x-inngest-server-kind": "dev"}),
    ]
    for label, content, extra in cases:
        response = client.post("/api/inngest", params=params, content=content, headers={**headers, **extra})
        assert response.status_code == 401, (label, response.status_code, response.text)
    good = client.post(
        "/api/inngest",
        params=params,
        content=body,
        headers={**headers, "x-inngest-signature": sign_request(body, SIGNING_KEY)},
    )
    assert good.status_code in (200, 206), good.text  # signed: the function ran (and failed: no transcript)
    record("Inngest endpoint: unsigned/forged/tampered/replayed refused", scenarios=len(cases) + 1, result="401")


def _untimed(body: bytes) -> str:
    """A valid HMAC of the body alone: the SDK accepts it, so it could be replayed forever without the guard."""
    key = SIGNING_KEY.split("-", 2)[2]
    mac = hmac.new(key.encode(), jcs.canonicalize(orjson.loads(body)), hashlib.sha256)
    return f"s={mac.hexdigest()}"
