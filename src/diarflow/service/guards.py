"""Request guards in front of every route: a body size limit, and fresh Inngest signatures only.

**Body size.**
Inngest's executor posts the run state with every step request (at most
32 MiB by Inngest's own limits, plus the event), so no legitimate request is
larger than :data:`MAX_REQUEST_BYTES`. Anything larger is refused with 413
as soon as its ``Content-Length`` says so, or as soon as a streamed
(chunked) body passes the limit — never buffered whole, so a hostile client
cannot make a replica allocate gigabytes before the signature check.
Routes may enforce smaller limits of their own (the pyannoteAI webhook: 1 MiB).

**Replayed Inngest requests.** The Inngest Python SDK (0.5) checks that a
request's ``X-Inngest-Signature`` matches its body, but not how old the
signature is: a captured request could be replayed forever (re-running a
step, re-sending events). :class:`FreshSignature` refuses, with 401, any
request whose signature timestamp ``t`` is missing or more than
:data:`MAX_SIGNATURE_AGE` seconds away from now — the window Inngest's
TypeScript SDK enforces. Inngest signs every delivery (retries included)
when it sends it, so genuine requests are always fresh.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""Twice Inngest's 32 MiB run-state limit: room for every real request, none for a memory-exhaustion attempt."""


MAX_SIGNATURE_AGE = 300.0
"""Seconds a signed Inngest request stays valid (either way, to allow for clock skew)."""
SIGNATURE_HEADER = b"x-inngest-signature"


class _TooLarge(Exception):
    pass


class BodySizeLimit:
    """ASGI middleware answering 413 to request bodies over ``limit`` bytes."""

    def __init__(self, app: ASGIApp, *, limit: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:  # otherwise the answer is already on its way; the connection just ends
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await _answer(send, 413, f"request body over {self.limit:,} bytes")


class FreshSignature:
    """ASGI middleware answering 401 to signed requests whose signature is stale or carries no time.

    Unsigned requests pass through untouched: the SDK refuses them in cloud mode and needs none in dev mode.
    """

    def __init__(
        self, app: ASGIApp, *, max_age: float = MAX_SIGNATURE_AGE, clock: Callable[[], float] = time.time
    ) -> None:
        self.app = app
        self.max_age = max_age
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = _header(scope, SIGNATURE_HEADER) if scope["type"] == "http" else None
        if header is not None:
            problem = self._problem(header)
            if problem is not None:
                await _answer(send, 401, problem)
                return
        await self.app(scope, receive, send)

    def _problem(self, header: str) -> str | None:
        values = parse_qs(header).get("t", [])
        if len(values) != 1 or not values[0].isdigit():
            return "X-Inngest-Signature carries no timestamp"
        signed_at = int(values[0])
        if signed_at > 10**12:  # milliseconds
            signed_at //= 1000
        if abs(self.clock() - signed_at) > self.max_age:
            return f"X-Inngest-Signature is older than {self.max_age:.0f} s (or from the future): refused as a replay"
        return None


async def _answer(send: Send, status: int, error: str) -> None:
    body = orjson.dumps({"error": error})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == wanted:
            return str(value.decode("latin-1"))
    return None


def _content_length(scope: Scope) -> int | None:
    text = _header(scope, b"content-length")
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else None
