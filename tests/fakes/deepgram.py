"""A fake Deepgram ``POST /v1/listen`` on loopback, answering as Deepgram documents.

* ``Authorization: Token <key>`` required, else 401 ``{err_code: "INVALID_AUTH", err_msg, request_id}``.
* JSON ``{"url": ...}`` with ``Content-Type: application/json``, or raw audio
  bytes with an audio content type; an empty body is a 400.
* The answer is the configured transcript with a fresh ``metadata.request_id``.
* Failures are scripted with :meth:`FakeDeepgram.fail_next` (429, 500, hang, malformed).
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson

from tests.fakes.server import FakeServer, Request, Response, ServedFake

API_KEY = "dg-test-abcdef0123456789-SECRET"


def sample_transcript() -> dict[str, Any]:
    """The packaged sample episode's Deepgram-shaped transcript."""
    data = resources.files("diarflow").joinpath("samples/sample.deepgram.json").read_bytes()
    return dict(orjson.loads(data))


@dataclass
class FakeDeepgram(ServedFake):
    api_key: str = API_KEY
    transcript: dict[str, Any] = field(default_factory=sample_transcript)
    requests: list[Request] = field(default_factory=list)
    _scripts: deque[Response] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: FakeServer | None = None

    def fail_next(self, response: Response, times: int = 1) -> None:
        for _ in range(times):
            self._scripts.append(response)

    def rate_limit_next(self, times: int = 1) -> None:
        self.fail_next(
            Response.json(
                {
                    "err_code": "TOO_MANY_REQUESTS",
                    "err_msg": "Too many requests. Please try again later",
                    "request_id": str(uuid.uuid4()),
                },
                429,
            ),
            times,
        )

    def handle(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
            scripted = self._scripts.popleft() if self._scripts else None
        if scripted is not None:
            return scripted
        if request.method != "POST" or request.path != "/v1/listen":
            return Response.json({"err_code": "NOT_FOUND", "err_msg": "Not found", "request_id": _rid()}, 404)
        if request.headers.get("authorization") != f"Token {self.api_key}":
            return Response.json(
                {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.", "request_id": _rid()}, 401
            )
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            try:
                url = request.json().get("url")
            except (orjson.JSONDecodeError, AttributeError):
                url = None
            if not isinstance(url, str):
                return Response.json(
                    {
                        "err_code": "Bad Request",
                        "err_msg": "Content-type was application/json, but we could not process the JSON payload.",
                        "request_id": _rid(),
                    },
                    400,
                )
        elif not request.body:
            return Response.json(
                {"err_code": "Bad Request", "err_msg": "Bad Request: payload is empty", "request_id": _rid()}, 400
            )
        answer = dict(self.transcript)
        answer["metadata"] = {**answer.get("metadata", {}), "request_id": _rid()}
        return Response.json(answer)


def _rid() -> str:
    return str(uuid.uuid4())
