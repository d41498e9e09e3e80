"""pyannoteAI webhooks: signatures as pyannoteAI computes them, staleness, replays, real deliveries."""

from __future__ import annotations

import time
from collections.abc import Iterator

import orjson
import pytest

from diarflow.adapters.pyannote import (
    ReplayGuard,
    WebhookRejected,
    handle_webhook,
    sign,
    verify_signature,
)
from diarflow.contracts import PYANNOTE_JOB_COMPLETED
from tests.fakes.pyannote import API_KEY, WEBHOOK_SECRET, FakePyannote
from tests.fakes.pyannote import sign as fake_sign
from tests.fakes.server import FakeServer, Request, Response

BODY = orjson.dumps({"jobId": "job-1", "status": "succeeded"})
NOW = 1_700_000_000.0


def headers(body: bytes = BODY, *, ts: float = NOW, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {"X-Request-Timestamp": str(int(ts)), "X-Signature": fake_sign(secret, str(int(ts)), body)}


def test_signature_matches_an_independent_implementation():
    assert sign(WEBHOOK_SECRET, "1700000000", BODY) == fake_sign(WEBHOOK_SECRET, "1700000000", BODY)


def test_good_signature_becomes_job_completed_event():
    result = handle_webhook(headers(), BODY, secret=WEBHOOK_SECRET, now=NOW + 3)
    assert result.status == 200
    assert result.event is not None
    assert result.event["name"] == PYANNOTE_JOB_COMPLETED == "pyannote/job.completed"
    assert result.event["data"] == {"job_id": "job-1", "status": "succeeded"}


def test_header_names_are_case_insensitive():
    lowered = {k.lower(): v for k, v in headers().items()}
    assert handle_webhook(lowered, BODY, secret=WEBHOOK_SECRET, now=NOW).status == 200


@pytest.mark.parametrize(
    ("sent_headers", "body", "reason"),
    [
        (headers(secret="another-secret"), BODY, "bad signature"),
        (headers(), BODY.replace(b"succeeded", b"failed"), "bad signature"),  # body tampered after signing
        (headers(ts=NOW - 301), BODY, "stale"),
        (headers(ts=NOW + 301), BODY, "stale"),
        ({"X-Request-Timestamp": str(int(NOW))}, BODY, "missing"),
        ({"X-Request-Timestamp": "yesterday", "X-Signature": "abc"}, BODY, "Unix time"),
        ({**headers(), "X-Signature": "not base64 ✗"}, BODY, "bad signature"),
    ],
)
def test_bad_or_stale_signatures_get_401(sent_headers, body, reason):
    result = handle_webhook(sent_headers, body, secret=WEBHOOK_SECRET, now=NOW)
    assert result.status == 401
    assert result.event is None
    assert reason in result.body["error"]


def test_signature_within_five_minutes_is_fresh():
    verify_signature(WEBHOOK_SECRET, body=BODY, now=NOW + 299, **_parts(headers()))
    with pytest.raises(WebhookRejected) as caught:
        verify_signature(WEBHOOK_SECRET, body=BODY, now=NOW + 301, **_parts(headers()))
    assert caught.value.status == 401


def test_replayed_delivery_is_acknowledged_once():
    guard = ReplayGuard()
    first = handle_webhook(headers(), BODY, secret=WEBHOOK_SECRET, guard=guard, now=NOW)
    retried = handle_webhook(
        {**headers(ts=NOW + 60), "x-retry-num": "1"}, BODY, secret=WEBHOOK_SECRET, guard=guard, now=NOW + 60
    )
    assert first.event is not None
    assert (retried.status, retried.event, retried.duplicate) == (200, None, True)  # 200: pyannoteAI stops retrying


def test_event_id_is_deterministic_so_inngest_dedupes_across_instances():
    a = handle_webhook(headers(), BODY, secret=WEBHOOK_SECRET, guard=ReplayGuard(), now=NOW)
    b = handle_webhook(headers(ts=NOW + 60), BODY, secret=WEBHOOK_SECRET, guard=ReplayGuard(), now=NOW + 60)
    assert a.event is not None
    assert b.event is not None
    assert a.event["id"] == b.event["id"]


def test_replay_guard_forgets_after_ttl_and_stays_bounded():
    clock = [0.0]
    guard = ReplayGuard(ttl=10, capacity=3, clock=lambda: clock[0])
    assert guard.first_time("a")
    assert not guard.first_time("a")
    clock[0] = 11
    assert guard.first_time("a")
    for key in "bcde":
        assert guard.first_time(key)
    assert len(guard._seen) <= 3


@pytest.mark.parametrize(
    "body",
    [b"not json", orjson.dumps({"status": "succeeded"}), orjson.dumps({"jobId": "j", "status": "running"})],
)
def test_signed_but_malformed_bodies_get_400(body):
    result = handle_webhook(headers(body), body, secret=WEBHOOK_SECRET, now=NOW)
    assert result.status == 400
    assert result.event is None


def test_unconfigured_secret_refuses_everything():
    result = handle_webhook(headers(), BODY, secret="", now=NOW)
    assert result.status == 503
    assert "PYANNOTEAI_WEBHOOK_SECRET" in result.body["error"]


class Receiver:
    """A minimal HTTP endpoint that runs handle_webhook, as the service mounts it at /webhooks/pyannote."""

    def __init__(self) -> None:
        self.guard = ReplayGuard()
        self.events: list[dict[str, object]] = []

    def __call__(self, request: Request) -> Response:
        result = handle_webhook(request.headers, request.body, secret=WEBHOOK_SECRET, guard=self.guard)
        if result.event is not None:
            self.events.append(result.event)
        return Response.json(result.body, result.status)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    endpoint = Receiver()
    with FakeServer(endpoint) as server:
        yield endpoint, f"{server.url}/webhooks/pyannote"


def test_real_delivery_from_the_fake_api_then_its_retries(receiver):
    endpoint, url = receiver
    from diarflow.adapters.pyannote import PyannoteClient

    with FakePyannote() as api, PyannoteClient(API_KEY, base_url=api.url) as client:
        created = client.diarize("https://example.com/a.wav", webhook=url)
        deadline = time.monotonic() + 5
        while not api.webhook_deliveries and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [r.status_code for r in api.webhook_deliveries] == [200]
        sent = api.requests[0].json()
        assert sent["webhook"] == url
        assert sent["webhookStatusOnly"] is True  # small webhook bodies: the collect step fetches the output
        # pyannoteAI's documented retries (immediate, 1 min, 5 min) carry the same body, freshly signed.
        body = orjson.dumps({"jobId": created.job_id, "status": "succeeded"})
        for attempt in (1, 2, 3):
            assert api.post_webhook(url, body, retry=attempt).status_code == 200
        forged = api.post_webhook(url, body, secret="guessed-secret")
        stale = api.post_webhook(url, body, timestamp=int(time.time()) - 600)
    assert (forged.status_code, stale.status_code) == (401, 401)
    assert endpoint.events == [
        {
            "name": "pyannote/job.completed",
            "id": endpoint.events[0]["id"],
            "data": {"job_id": created.job_id, "status": "succeeded"},
        }
    ]


def _parts(sent: dict[str, str]) -> dict[str, str]:
    return {"signature": sent["X-Signature"], "timestamp": sent["X-Request-Timestamp"]}
