"""``GET|PUT|POST /api/inngest``: the Inngest serve endpoint, authenticated before any body is parsed.

The Inngest SDK's own FastAPI adapter (``inngest.fast_api.serve``) reads the
whole body, parses and canonicalises it to check the signature, and parses it
again to run the step — all on the event loop, before it knows whether the
request is genuine, and it registers the app under whatever ``Host`` the
request names. This route keeps the SDK's request handling (its
``CommHandler``, the same one every SDK adapter drives) and puts diarflow's
guarantees around it (docs/reliability.md, "The Inngest endpoint"):

* **Cloud mode: signed requests only, every method.** The signature header is
  checked first (present, one, well-formed, fresh), then its HMAC over the raw
  body as it streams in (:mod:`diarflow.service.signatures`); only then is the
  body read into memory and handed to the SDK. Bodies are spooled to disk past
  1 MiB, so a forged request costs neither memory nor parsing.
* **Off the event loop.** The SDK's work (its own signature check, parsing, the
  step itself, serialising the answer) runs in worker threads capped by
  ``INNGEST_THREAD_POOL_MAX_WORKERS``, apart from the threads ``/healthz`` uses,
  so health checks answer while large requests are processed.
* **Registration from configuration.** The URL sent to Inngest on sync is
  ``INNGEST_SERVE_ORIGIN`` + the serve path, never the request's ``Host`` or
  ``X-Forwarded-*`` headers. In dev mode without that setting, the origin is
  the socket the request arrived on; in cloud mode an out-of-band sync without
  it is refused (an in-band sync names the URL in its signed body).
* **No stack traces to callers.** Error answers carry the error's type and
  redacted message; the SDK's ``stack`` fields are dropped (and the answer is
  signed again, as the SDK signs it, when the request was signed).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import anyio
import inngest
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from inngest._internal import comm_lib, server_lib, transforms

from diarflow.errors import MAX_ERROR_MESSAGE, ClientGone, RequestRejected
from diarflow.redaction import redact
from diarflow.service.bodies import ReceivedBody, receive_body, refusal
from diarflow.service.signatures import SIGNATURE_HEADER, BodyVerifier, parse_signature, sign_body

log = logging.getLogger(__name__)

DEFAULT_SERVE_PATH = "/api/inngest"
SYNC_KIND_HEADER = "x-inngest-sync-kind"
LARGE_BODY_BYTES = 1024 * 1024
"""Requests above this size are handed to the SDK one at a time (diarflow's own step requests are a few KB)."""
MISSING_ORIGIN = (
    "out-of-band sync needs INNGEST_SERVE_ORIGIN (the public origin Inngest reaches this service at, "
    "e.g. https://diarflow.example.com): the URL registered with Inngest never comes from request headers"
)


class InngestEndpoint:
    """The serve endpoint of one app: :meth:`mount` it on a FastAPI app."""

    def __init__(
        self,
        client: inngest.Inngest,
        functions: Sequence[inngest.Function[Any]],
        *,
        body_limit: int,
        serve_origin: str | None = None,
        serve_path: str | None = None,
        threads: int = 0,
    ) -> None:
        self.client = client
        self.cloud = client.is_production
        self.body_limit = body_limit
        self.serve_origin = serve_origin
        self.path = serve_path or os.environ.get("INNGEST_SERVE_PATH") or DEFAULT_SERVE_PATH
        self._signing_keys = [key for key in (client.signing_key, client.signing_key_fallback) if key]
        self._handler = comm_lib.CommHandler(
            client=client,
            enable_unauthed_sync=not self.cloud,
            framework=server_lib.Framework.FAST_API,
            functions=list(functions),
            streaming=None,
        )
        # Steps get their own threads: a burst of long steps must never starve /healthz of workers.
        self._threads = anyio.CapacityLimiter(threads if threads > 0 else min(32, (os.cpu_count() or 1) + 4))
        self._large_bodies = anyio.CapacityLimiter(1)

    def mount(self, app: FastAPI) -> None:
        app.add_api_route(self.path, self.handle, methods=["GET", "PUT", "POST"], include_in_schema=False)

    async def handle(self, request: Request) -> Response:
        try:
            verifier = self._check_headers(request)
            async with receive_body(
                request, self.body_limit, on_chunk=verifier.update if verifier is not None else None
            ) as received:
                signing_key = self._check_body(verifier, request.method, received)
                body = received.read()
        except RequestRejected as refused:
            log.info("refused %s %s: %s", request.method, self.path, refused.message)
            return refusal(refused)
        except ClientGone as gone:
            log.info("%s %s: %s", request.method, self.path, gone)
            return Response(status_code=400)
        comm_request = comm_lib.CommRequest(
            body=body,
            # A step request whose HMAC we verified over its raw bytes is passed as pre-authenticated (the flag
            # the SDK's own Connect transport sets): its check would parse and canonicalise the body again, 7.6 s
            # and 0.8 GB for 20 MiB. Syncs and inspections keep the SDK's check; they need its verdict.
            is_connect=signing_key is not None and request.method == "POST",
            headers=dict(request.headers.items()),
            public_path=None,
            query_params=dict(request.query_params.items()),
            raw_request=request,
            request_url=self._serve_url(request),
            serve_origin=self.serve_origin,
            serve_path=None,
        )
        # Parsing a large body holds the GIL for most of a second per 20 MiB and takes ~25 bytes of memory per
        # byte: one at a time, so neither the loop nor the memory of a replica is at the mercy of a few of them.
        limiter = self._large_bodies if len(body) > LARGE_BODY_BYTES else self._threads
        return await anyio.to_thread.run_sync(
            self._dispatch, request.method, comm_request, signing_key, limiter=limiter
        )

    # --- authentication -------------------------------------------------------------------------------

    def _check_headers(self, request: Request) -> BodyVerifier | None:
        """Refuse what the headers alone condemn; the verifier that will check the body's HMAC (cloud mode)."""
        if not self.cloud:
            return None  # the dev server signs nothing
        signature = parse_signature(request.headers.getlist(SIGNATURE_HEADER), now=time.time())
        if request.method == "PUT" and not self._in_band(request) and self.serve_origin is None:
            raise RequestRejected(400, MISSING_ORIGIN)
        return BodyVerifier(signature, self._signing_keys)

    def _check_body(self, verifier: BodyVerifier | None, method: str, received: ReceivedBody) -> str | None:
        """The signing key that signed the body; 401 when none did."""
        if verifier is None:
            return None
        key = verifier.verified_key()
        if key is None and method == "PUT":
            key = verifier.verified_key_of_canonical(received.read())
        if key is None:
            raise RequestRejected(401, "X-Inngest-Signature does not match the request body and signing key")
        return key

    def _in_band(self, request: Request) -> bool:
        return request.headers.get(SYNC_KIND_HEADER) == server_lib.SyncKind.IN_BAND.value

    def _serve_url(self, request: Request) -> str:
        """This endpoint's URL as configured (never from the request's Host or X-Forwarded-* headers)."""
        origin = self.serve_origin
        if origin is None:
            # Dev mode: the socket the request arrived on. Cloud mode: only in-band syncs get here, and
            # they take the URL from their signed body.
            host, port = request.scope.get("server") or ("127.0.0.1", 80)
            origin = f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"
        return origin.rstrip("/") + self.path

    # --- the SDK, in a worker thread ------------------------------------------------------------------

    def _dispatch(self, method: str, request: comm_lib.CommRequest, signing_key: str | None) -> Response:
        handlers = {"GET": self._handler.get_sync, "PUT": self._handler.put_sync, "POST": self._handler.post_sync}
        answer = handlers[method](request)
        body = answer.body
        if answer.status_code == 206 or answer.status_code >= 400:
            body = _without_stacks(body)
        text = transforms.dump_json(body)
        if isinstance(text, Exception):  # the SDK's own rule: an unserialisable answer is an error
            answer = comm_lib.CommResponse.from_error(self.client.logger, text)
            text = orjson.dumps(_without_stacks(answer.body)).decode()
        content = text.encode("utf-8")
        headers = {name: value for name, value in answer.headers.items() if name.lower() != SIGNATURE_HEADER}
        if signing_key is not None:
            headers[SIGNATURE_HEADER] = sign_body(content, signing_key, int(time.time()))
        headers.setdefault("content-type", "application/json")
        return Response(content=content, headers=headers, status_code=answer.status_code)


def _without_stacks(body: object) -> object:
    """An error answer with the SDK's ``stack`` fields removed and every message redacted."""
    if isinstance(body, list):
        return [_without_stacks(item) for item in body]
    if not isinstance(body, dict):
        return body
    cleaned = {key: value for key, value in body.items() if key != "stack"}
    if isinstance(cleaned.get("error"), dict):
        cleaned["error"] = _without_stacks(cleaned["error"])
    if isinstance(cleaned.get("message"), str):
        cleaned["message"] = redact(cleaned["message"])[:MAX_ERROR_MESSAGE]
    return cleaned
