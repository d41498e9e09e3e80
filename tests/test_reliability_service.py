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
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jcs
import orjson
import pytest
from fastapi.testclient import TestClient

from diarflow.adapters.pyannote import sign
from diarflow.adapters.stores import LocalStore
from diarflow.config import Settings
from diarflow.contracts import TRANSCRIBE_REQUESTED, TRANSCRIBED, keys
from diarflow.service.app import create_app
from diarflow.service.guards import MAX_REQUEST_BYTES, BodySizeLimit
from tests.fakes.server import FakeServer, Request, Response
from tests.inngest_helpers import Executor, ServeProcess, sign_request
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
    # A signature header that looks right gets the body read (to check its HMAC): the limit holds while reading.
    fresh = {"x-inngest-signature": f"t={int(time.time())}&s={'0' * 64}"}
    streamed = client.post("/api/inngest", content=chunks(MAX_REQUEST_BYTES + 1024 * 1024), headers=fresh)
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
    canonical: bytes = jcs.canonicalize({"event": event, "events": [event], "steps": {}, "ctx": ctx, "use_api": False})
    return canonical  # Inngest's executor sends (and signs) canonical JSON


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


# --- attacks from outside: signatures, sync, costs, errors ----------------------------------------

PARAMS = {"fnId": "diarflow-diarize-episode", "stepId": "step"}
JSON = ("content-type", "application/json")


def _signature_headers(*values: str) -> list[tuple[str, bytes]]:
    """Content type and signature headers; values as UTF-8 bytes, as a client can send any octets."""
    return [(JSON[0], JSON[1].encode()), *(("x-inngest-signature", value.encode()) for value in values)]


def test_a_request_with_more_than_one_signature_header_is_refused(client: TestClient, events: EventApi) -> None:
    """A stale captured signature must not ride in behind a fresh-looking one (the SDK verifies the last)."""
    body = inngest_payload("DUP1")
    now = int(time.time())
    captured = sign_request(body, SIGNING_KEY, now - 7200)  # genuine, two hours old
    fresh = sign_request(body, SIGNING_KEY)
    junk = f"t={now}&s={'0' * 64}"
    alone = client.post("/api/inngest", params=PARAMS, content=body, headers=_signature_headers(captured))
    assert alone.status_code == 401
    orders = [(junk, captured), (captured, junk), (fresh, captured), (captured, fresh), (fresh, fresh)]
    for values in orders:
        response = client.post("/api/inngest", params=PARAMS, content=body, headers=_signature_headers(*values))
        assert response.status_code == 401, (values, response.text)
        assert "2 X-Inngest-Signature headers" in response.json()["error"]
    served = client.post("/api/inngest", params=PARAMS, content=body, headers=_signature_headers(fresh))
    assert served.status_code == 206, served.text
    assert events.requests == []
    record("Inngest endpoint: duplicate signature headers", scenarios=len(orders) + 2, result="401; one fresh: 206")


MALFORMED_SIGNATURES = [
    "t=%C2%B2&s=0",  # '²' passes str.isdigit() but not int()
    f"t=²&s={'a' * 64}",
    f"t=١٧٠٠٠٠٠٠٠٠&s={'a' * 64}",  # Arabic-Indic digits
    f"t=1&t=2&s={'a' * 64}",
    f"t={int(time.time())}&s={'a' * 64}&s={'b' * 64}",
    f"s={'a' * 64}",
    f"t={int(time.time())}",
    f"t={int(time.time())}&s={'a' * 63}",
    f"t={int(time.time())}&s={'g' * 64}",
    f"t={int(time.time())}&s={'A' * 64}x",
    f"t=-{int(time.time())}&s={'a' * 64}",
    f"t={'9' * 40}&s={'a' * 64}",
    f"t= {int(time.time())}&s={'a' * 64}",
    "t=&s=",
    "",
    "&&&===",
    "x" * 8000,
]


def test_a_malformed_signature_header_gets_401_and_never_a_traceback(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = inngest_payload("MAL1")
    with caplog.at_level("DEBUG"):
        for value in MALFORMED_SIGNATURES:
            # The test client re-raises any exception the app lets escape: a 500 would fail here.
            response = client.post("/api/inngest", params=PARAMS, content=body, headers=_signature_headers(value))
            assert response.status_code == 401, (value[:40], response.status_code, response.text)
            assert response.json()["error"]
    assert not [r for r in caplog.records if r.exc_info or r.levelname in ("ERROR", "CRITICAL")]
    record("Inngest endpoint: malformed signature headers", scenarios=len(MALFORMED_SIGNATURES), result="401")


def _call_asgi(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, int]:
    """One POST /api/inngest straight into the ASGI app; (status answered, body chunks the app asked for)."""
    pulled = 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    total = sum(len(chunk) for chunk in chunks)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/inngest",
        "raw_path": b"/api/inngest",
        "root_path": "",
        "query_string": b"fnId=diarflow-diarize-episode&stepId=step",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(total).encode()), *headers],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
    }
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], pulled


def _large_json_chunks(mib: int) -> list[bytes]:
    """A valid JSON body of about ``mib`` MiB in ~1 MiB chunks, all but two one shared object (no new memory)."""
    word = b'{"word":"hello","start":1.25,"end":1.5},'
    middle = word * (1024 * 1024 // len(word))
    return [b'{"event":{"name":"x","data":{}},"steps":{},"words":[', *([middle] * mib), b'{"word":"end"}]}']


class SdkCalls:
    """Records the SDK handler calls that reach it, and whether each ran on an event loop's thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from inngest._internal import comm_lib

        for name in ("get_sync", "put_sync", "post_sync", "put", "post"):
            original = getattr(comm_lib.CommHandler, name)
            monkeypatch.setattr(comm_lib.CommHandler, name, self._spy(name, original))

    def _spy(self, name: str, original: Any) -> Any:
        calls = self.calls

        def spy(handler: Any, request: Any) -> Any:
            try:
                asyncio.get_running_loop()
                on_loop = True
            except RuntimeError:
                on_loop = False
            calls.append((name, on_loop))
            return original(handler, request)

        return spy


def test_an_unsigned_or_forged_request_is_refused_before_its_body_is_parsed_or_held(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracemalloc

    sdk = SdkCalls()
    sdk.install(monkeypatch)
    chunks = _large_json_chunks(62)

    status, pulled = _call_asgi(client.app, [], chunks)
    assert (status, pulled) == (401, 0)  # unsigned: refused from its headers, the body never read

    forged = [(b"x-inngest-signature", f"t={int(time.time())}&s={'0' * 64}".encode())]
    tracemalloc.start()
    try:
        status, pulled = _call_asgi(client.app, forged, chunks)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 401
    assert pulled == len(chunks)  # read, to check its HMAC ...
    assert peak < 8 * 1024 * 1024, f"{peak:,} bytes allocated for a forged 62 MiB body"  # ... spooled, not held
    assert sdk.calls == []  # ... and never handed to the SDK, which would parse it
    record(
        "Inngest endpoint: unsigned and forged 62 MiB bodies",
        scenarios=2,
        result=f"401; unsigned body never read; forged body read, peak {peak / 2**20:.1f} MiB allocated, never parsed",
    )


def test_the_sdk_works_off_the_event_loop(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing a request and running its step block a thread, never the loop that answers health checks."""
    sdk = SdkCalls()
    sdk.install(monkeypatch)
    body = inngest_payload("LOOP1")
    response = client.post(
        "/api/inngest", params=PARAMS, content=body, headers=_signature_headers(sign_request(body, SIGNING_KEY))
    )
    assert response.status_code == 206, response.text
    assert sdk.calls == [("post_sync", False)]


def _put(client: TestClient, body: bytes, **headers: str) -> Any:
    return client.put(
        "/api/inngest", content=body, headers={**headers, "x-inngest-signature": sign_request(body, SIGNING_KEY)}
    )


HOSTILE_HOST = {"Host": "evil.example:8443", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example:8443"}


def test_cloud_mode_refuses_unsigned_requests_of_every_method(client: TestClient, events: EventApi) -> None:
    for method in ("GET", "PUT", "POST"):
        response = client.request(method, "/api/inngest", headers=HOSTILE_HOST)
        assert response.status_code == 401, (method, response.text)
    assert events.requests == []  # no registration was sent anywhere
    record("Inngest endpoint: unsigned GET/PUT/POST in cloud mode", scenarios=3, result="401, nothing registered")


def test_cloud_mode_registers_the_configured_origin_never_the_request_host(
    client: TestClient, events: EventApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Without INNGEST_SERVE_ORIGIN, an out-of-band sync cannot know the URL: refused, naming the setting.
    refused = _put(client, b"", **HOSTILE_HOST)
    assert refused.status_code == 400
    assert "INNGEST_SERVE_ORIGIN" in refused.json()["error"]
    assert events.requests == []
    # An in-band sync names the URL in its signed body.
    in_band = orjson.dumps({"url": "https://diarflow.example.com/api/inngest"})
    answer = _put(client, in_band, **HOSTILE_HOST, **{"x-inngest-sync-kind": "in_band"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["url"] == "https://diarflow.example.com/api/inngest"
    assert "evil" not in answer.text

    settings = Settings.from_env(
        {"DIARFLOW_DIARIZER": "deepgram", "INNGEST_SERVE_ORIGIN": "https://diarflow.example.com"}
    )
    with TestClient(create_app(settings, store=LocalStore(tmp_path / "store2"))) as configured:
        assert configured.put("/api/inngest", headers=HOSTILE_HOST).status_code == 401  # unsigned
        assert events.requests == []
        synced = _put(configured, b"", **HOSTILE_HOST)
        assert synced.status_code == 200, synced.text
    [registration] = [r.json() for r in events.requests if r.path == "/fn/register"]
    assert registration["url"] == "https://diarflow.example.com/api/inngest"
    runtime_urls = {fn["steps"]["step"]["runtime"]["url"].split("?")[0] for fn in registration["functions"]}
    assert runtime_urls == {"https://diarflow.example.com/api/inngest"}
    record("Inngest sync: URL from configuration", scenarios=5, result="hostile Host/X-Forwarded-* never registered")


@pytest.fixture
def dev_client(events: EventApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TestClient]:
    for name in ("INNGEST_SIGNING_KEY", "INNGEST_EVENT_KEY", "INNGEST_BASE_URL", "INNGEST_SERVE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("INNGEST_SERVE_ORIGIN", raising=False)
    monkeypatch.setenv("INNGEST_DEV", events.url)
    app = create_app(Settings.from_env({"DIARFLOW_DIARIZER": "deepgram"}), store=LocalStore(tmp_path / "store"))
    with TestClient(app) as test_client:
        yield test_client


def _executor(test_client: TestClient, signing_key: str | None = None) -> Executor:
    executor = Executor(str(test_client.base_url), signing_key=signing_key)
    executor.http = test_client
    return executor


def _all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in _all_keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in _all_keys(item)}
    return set()


def test_error_answers_carry_the_type_and_message_never_a_stack(dev_client: TestClient, client: TestClient) -> None:
    from inngest._internal import net, server_lib

    calls = []
    # A function-level error (an invalid event) and a step error (a transcript that is not there).
    invalid = {"name": TRANSCRIBED, "data": {"episode_id": "../etc", "transcript_key": "k"}}
    missing = {"name": TRANSCRIBED, "data": {"episode_id": "GONE1", "transcript_key": keys.transcript_key("GONE1")}}
    for test_client, key in ((dev_client, None), (client, SIGNING_KEY)):
        executor = _executor(test_client, key)
        ctx = {"run_id": "01RUN", "attempt": 0, "disable_immediate_execution": False, "stack": {"stack": []}}
        calls.append(
            executor.post(
                "diarize-episode", {"event": invalid, "events": [invalid], "steps": {}, "ctx": ctx, "use_api": False}
            )
        )
        run = executor.run("diarize-episode", missing)
        calls.extend(run.calls)
    errors = [c for c in calls if c.status >= 400 or (c.status == 206 and any("error" in op for op in c.body))]
    assert {c.status for c in errors} >= {206, 500}
    for call in errors:
        text = orjson.dumps(call.body).decode()
        assert "stack" not in _all_keys(call.body), text
        assert "Traceback" not in text, text
        assert 'File "' not in text, text
    function_error = next(c for c in errors if c.status == 500)
    assert function_error.body["name"] == "NonRetriableError"
    assert "episode_id" in function_error.body["message"]
    # Answers to signed requests stay signed, over the body as sent (the executor checks it).
    signed = [c for c in calls if "x-inngest-signature" in c.headers]
    assert signed
    for call in signed:
        valid = net.validate_response_sig(
            body=call.raw, headers=call.headers, mode=server_lib.ServerKind.CLOUD, signing_key=SIGNING_KEY
        )
        assert not isinstance(valid, Exception), (valid, call.raw[:200])
    record("Inngest endpoint: no stack traces in error answers", scenarios=len(errors), result="type + message only")


def test_dev_mode_checks_audio_url_before_any_step(dev_client: TestClient) -> None:
    executor = _executor(dev_client)
    refused = []
    for audio in ("/etc/passwd", "file:///etc/shadow", "http://169.254.169.254/latest/meta-data/"):
        event = {
            "name": TRANSCRIBED,
            "data": {"episode_id": "URLDEV1", "transcript_key": "k/t.json", "audio_url": audio},
        }
        run = executor.run("diarize-episode", event)
        assert run.status == "completed", run.output
        assert run.output["status"] == "failed"
        assert run.output["error"]["type"] == "InvalidUrl"
        assert run.op_names()[:1] != ["choose-diarizer-v1"]
        assert not {"choose-diarizer-v1", "inspect-transcript-v1"} & set(run.op_names())
        refused.append(audio)

        transcribe = {"name": TRANSCRIBE_REQUESTED, "data": {"episode_id": "URLDEV2", "audio_url": audio}}
        run = executor.run("transcribe-episode", transcribe, max_attempts=5)
        assert run.status == "failed", run.output
        assert run.ops == []  # no step ran, not even the transcription's own check inside it
        assert run.calls[-1].headers["x-inngest-no-retry"] == "true"
        assert len(run.calls) == 1
        assert "audio_url" in run.output["message"]
    record("dev mode: audio_url checked before any step", scenarios=2 * len(refused), result="InvalidUrl, no step")


def _slow_client(port: int, path: str, headers: str) -> None:
    """Headers that promise a megabyte, one byte of it, then a closed connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n{headers}"
            "Content-Length: 1048576\r\n\r\n{".encode()
        )
        time.sleep(0.05)


def test_a_client_that_goes_away_mid_body_costs_one_short_log_line_at_most(tmp_path: Path) -> None:
    env = {
        "DIARFLOW_STORE": str(tmp_path / "store"),
        "DIARFLOW_DIARIZER": "deepgram",
        "DIARFLOW_LOG_LEVEL": "INFO",  # the most talkative setting a deployment would use
        "INNGEST_SIGNING_KEY": SIGNING_KEY,
        "INNGEST_EVENT_KEY": "event-key-test-FAKE",
        "INNGEST_BASE_URL": "http://127.0.0.1:9",
    }
    clients = 40
    with ServeProcess(env, tmp_path) as server:
        httpx.get(server.url + "/healthz", timeout=30)
        before = server.log_path.stat().st_size
        for index in range(clients):
            fresh = f"X-Inngest-Signature: t={int(time.time())}&s={'0' * 64}\r\n"  # worth reading the body of
            if index % 2:
                _slow_client(server.port, "/api/inngest?fnId=diarflow-diarize-episode&stepId=step", fresh)
            else:
                _slow_client(server.port, WEBHOOK, "")
        deadline = time.monotonic() + 10
        size = -1
        while time.monotonic() < deadline and size != server.log_path.stat().st_size:  # until the log settles
            size = server.log_path.stat().st_size
            time.sleep(0.3)
        written = server.log_path.read_text()[before:]
    lines = written.splitlines()
    assert "Traceback" not in written, written[:2000]
    assert "ClientDisconnect" not in written
    assert len(lines) <= clients, written[:2000]
    assert all(len(line) < 200 for line in lines), max(lines, key=len)
    record(
        "a client that goes away mid-body (both routes)",
        scenarios=clients,
        result=f"{len(written):,} bytes of log in {len(lines)} lines at INFO, no traceback",
    )
