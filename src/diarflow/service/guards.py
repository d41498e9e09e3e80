"""A request body size limit in front of every route.

Inngest's executor posts the run state with every step request (at most
32 MiB by Inngest's own limits, plus the event), so no legitimate request is
larger than :data:`MAX_REQUEST_BYTES`. Anything larger is refused with 413
as soon as its ``Content-Length`` says so, or as soon as a streamed
(chunked) body passes the limit — never buffered whole, so a hostile client
cannot make a replica allocate gigabytes before the signature check.
Routes enforce limits of their own as they read (:mod:`diarflow.service.bodies`;
the pyannoteAI webhook: 1 MiB), and the Inngest route checks signatures
before it reads a body at all (:mod:`diarflow.service.inngest_endpoint`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""Twice Inngest's 32 MiB run-state limit: room for every real request, none for a memory-exhaustion attempt."""


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


async def _answer(send: Send, status: int, error: str) -> None:
    body = orjson.dumps({"error": error})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # the rest of the body is never read
    ]
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
