"""pyannoteAI webhooks: signature verification and a replay guard, as plain functions.

pyannoteAI signs each webhook with HMAC-SHA256 over ``v0:{X-Request-Timestamp}:{raw body}``
using the team's webhook secret, base64-encoded in ``X-Signature``
(docs.pyannote.ai, "Verifying Webhooks"). It retries a delivery immediately,
after 1 and after 5 minutes, so the same job may arrive up to four times.

:func:`handle_webhook` is framework-free: the HTTP service passes it the raw
body and the headers and answers with the status it returns. A valid call
becomes the event ``pyannote/job.completed`` with a deterministic ``id``, so
Inngest itself also drops duplicates.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from diarflow.adapters.pyannote._models import TERMINAL_STATUSES, WebhookPayload
from diarflow.contracts import PYANNOTE_JOB_COMPLETED
from diarflow.errors import WebhookRejected

SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Request-Timestamp"
MAX_SKEW_SECONDS = 300.0
"""Signatures older (or further in the future) than this are stale: a captured request cannot be replayed later."""
MAX_BODY_BYTES = 1024 * 1024
"""We ask for status-only webhooks; anything far larger is not from our jobs."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Signature`` pyannoteAI would send for ``body`` at ``timestamp``."""
    message = b"v0:" + timestamp.encode("ascii") + b":" + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(
    secret: str,
    *,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    now: float | None = None,
    max_skew: float = MAX_SKEW_SECONDS,
) -> None:
    """Raise :class:`WebhookRejected` (401) unless the signature is valid and fresh."""
    if not secret:
        raise WebhookRejected(503, "webhook secret not configured (PYANNOTEAI_WEBHOOK_SECRET)")
    if not signature or not timestamp:
        raise WebhookRejected(401, f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
    try:
        sent_at = float(timestamp)
        timestamp.encode("ascii")
    except (ValueError, UnicodeEncodeError):
        raise WebhookRejected(401, f"{TIMESTAMP_HEADER} is not a Unix time in seconds") from None
    current = time.time() if now is None else now
    if not math.isfinite(sent_at) or abs(current - sent_at) > max_skew:
        raise WebhookRejected(401, f"stale signature: timestamp is more than {max_skew:g}s from now")
    expected = sign(secret, timestamp, body)
    # Constant-time comparison: timing must not reveal how much of a forged signature was right.
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("ascii", "replace")):
        raise WebhookRejected(401, "bad signature")


class ReplayGuard:
    """Remembers recently accepted deliveries so a retried webhook yields one event.

    In memory and bounded (oldest forgotten first); each entry lives ``ttl``
    seconds, longer than pyannoteAI's retry window (5 min). Across several
    service instances, the event's deterministic ``id`` lets Inngest drop the
    rest.
    """

    def __init__(self, *, ttl: float = 3600.0, capacity: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._capacity = capacity
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        """True the first time ``key`` is seen within the TTL; False for a replay."""
        now = self._clock()
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at <= self._ttl and len(self._seen) < self._capacity:
                    break
                self._seen.pop(oldest)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


@dataclass(frozen=True)
class WebhookResult:
    """What to answer and what to emit: ``event`` is None for rejected or duplicate deliveries."""

    status: int
    body: dict[str, Any]
    event: dict[str, Any] | None = None
    duplicate: bool = False


def job_completed_event(job_id: str, status: str) -> dict[str, Any]:
    """The ``pyannote/job.completed`` event; its ``id`` makes Inngest deduplicate redeliveries."""
    return {
        "name": PYANNOTE_JOB_COMPLETED,
        "id": f"pyannote-job-{hashlib.sha256(job_id.encode()).hexdigest()[:32]}-{status}",
        "data": {"job_id": job_id, "status": status},
    }


def handle_webhook(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret: str,
    guard: ReplayGuard | None = None,
    now: float | None = None,
) -> WebhookResult:
    """Verify one delivery and turn it into ``pyannote/job.completed`` {job_id, status}.

    ``headers`` may use any case. Answers: 401 bad or stale signature, 400 a
    body that is not a terminal job status, 413 too large, 200 otherwise
    (also for a replay, so pyannoteAI stops retrying).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    if len(body) > MAX_BODY_BYTES:
        return WebhookResult(413, {"error": "body too large"})
    try:
        verify_signature(
            secret,
            signature=lowered.get(SIGNATURE_HEADER.lower()),
            timestamp=lowered.get(TIMESTAMP_HEADER.lower()),
            body=body,
            now=now,
        )
    except WebhookRejected as exc:
        return WebhookResult(exc.status, {"error": exc.reason})
    try:
        payload = WebhookPayload.model_validate_json(body)
    except ValidationError:
        return WebhookResult(400, {"error": "body is not a pyannoteAI job notification {jobId, status}"})
    if payload.status not in TERMINAL_STATUSES:
        return WebhookResult(400, {"error": f"status {payload.status!r} is not terminal"})
    if guard is not None and not guard.first_time(f"{payload.job_id}:{payload.status}"):
        return WebhookResult(200, {"ok": True, "duplicate": True}, duplicate=True)
    return WebhookResult(200, {"ok": True}, event=job_completed_event(payload.job_id, payload.status))
