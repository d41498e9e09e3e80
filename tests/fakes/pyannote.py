"""A fake pyannoteAI API on loopback that answers as docs.pyannote.ai documents.

* ``POST /v1/diarize`` / ``/v1/identify`` / ``/v1/voiceprint`` -> 200 ``{jobId, status: "created"}``;
  invalid bodies -> 400 ``{message, errors: [{field, message}]}``.
* ``GET /v1/jobs/{jobId}`` walks the job through its scripted statuses, one per
  poll (default ``pending -> running -> succeeded``); ``output`` only on success.
* ``POST /v1/media/input`` ``{url: "media://key"}`` -> 201 ``{url}`` (a pre-signed
  PUT URL on this server); ``PUT`` there stores the bytes.
* 401 ``{message, requestId}`` without the right Bearer key; 402 and 429 answer the
  OpenAPI's ``ApiError`` ``{requestId, message}``, 429 with ``Retry-After`` and
  ``X-RateLimit-Reset``; a 400 is ``{message, errors}`` without a request id; every
  answer carries ``X-RateLimit-Limit`` / ``X-RateLimit-Remaining``.
* Failures are scripted per route with :meth:`FakePyannote.fail_next`.
* Jobs with a ``webhook`` get it delivered, signed as pyannoteAI signs
  (HMAC-SHA256, base64, over ``v0:{timestamp}:{body}``), when they finish.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from tests.fakes.server import FakeServer, Request, Response, ServedFake

API_KEY = "pk-test-0123456789abcdef-SECRET"
WEBHOOK_SECRET = "whs-test-fedcba9876543210-SECRET"
UPLOAD_SIGNATURE = "sig-test-S3CR3T-in-query"

DEFAULT_SEGMENTS: list[dict[str, Any]] = [
    {"speaker": "SPEAKER_00", "start": 0.5, "end": 4.0},
    {"speaker": "SPEAKER_01", "start": 3.5, "end": 8.0},
    {"speaker": "SPEAKER_00", "start": 8.2, "end": 12.0},
]
_MODELS = {"precision-2", "community-1"}
_MEDIA_KEY = re.compile(r"^media://[a-zA-Z0-9\-_./]+$")


@dataclass
class FakeJob:
    job_id: str
    kind: str
    request: dict[str, Any]
    statuses: list[str]
    output: dict[str, Any] | None
    error: str | None = None
    polls: int = 0
    expired: str | None = None
    """``"404"``: the job is gone; ``"no_output"``: it succeeded but its output was deleted."""

    @property
    def status(self) -> str:
        return self.statuses[min(self.polls, len(self.statuses) - 1)]


@dataclass
class Scripted:
    method: str
    path: re.Pattern[str]
    response: Response
    times: int


@dataclass
class FakePyannote(ServedFake):
    """State and scripting of the fake; :attr:`url` is its base URL once started."""

    api_key: str = API_KEY
    webhook_secret: str = WEBHOOK_SECRET
    segments: list[dict[str, Any]] = field(default_factory=lambda: [dict(s) for s in DEFAULT_SEGMENTS])
    job_statuses: list[str] = field(default_factory=lambda: ["pending", "running", "succeeded"])
    job_error: str = "Could not load audio"
    webhook_delay: float = 0.05
    voiceprint_scores: dict[str, list[float]] = field(default_factory=dict)
    """Identify jobs: diarization speaker -> 0-100 score per voiceprint sent, in request order. By default
    the n-th speaker (by first turn) scores 90 against the n-th voiceprint and 20 against the others."""
    expire_after_polls: dict[str, int] = field(default_factory=dict)
    """job id -> number of GETs after which the job answers 404, as when its output was deleted."""
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    webhook_deliveries: list[httpx.Response] = field(default_factory=list)
    _scripts: deque[Scripted] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=itertools.count)
    _server: FakeServer | None = None

    @staticmethod
    def job_id(n: int) -> str:
        """The id of the ``n``-th job this fake creates (1-based): ids are deterministic."""
        return str(uuid.UUID(int=n))

    # -- scripting --

    def fail_next(
        self,
        method: str,
        path: str,
        status: int,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        hang: float = 0.0,
        times: int = 1,
    ) -> None:
        """The next ``times`` requests matching ``method`` and the ``path`` regex get this answer instead."""
        if body is None:
            body = {"message": _reason(status), "requestId": str(uuid.uuid4())}
        response = Response.json(body, status, headers) if not isinstance(body, bytes) else Response(status, body)
        response.hang = hang
        self._scripts.append(Scripted(method, re.compile(path), response, times))

    def rate_limit_next(self, path: str, *, retry_after: int = 1, method: str = "POST", times: int = 1) -> None:
        """429 as documented: ``Retry-After`` seconds and ``X-RateLimit-Reset`` in epoch seconds."""
        reset = int(time.time()) + retry_after
        self.fail_next(
            method,
            path,
            429,
            headers={
                "Retry-After": str(retry_after),
                "X-RateLimit-Limit": "100",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
            },
            body={"message": "Too many requests", "requestId": str(uuid.uuid4())},
            times=times,
        )

    def expire(self, job_id: str, mode: str = "404") -> None:
        """Make a job's output gone, as 24 h after completion."""
        self.jobs[job_id].expired = mode

    def output_for(self, request: dict[str, Any]) -> dict[str, Any]:
        """The output a succeeded job returns, honouring turnLevelConfidence / exclusive / confidence."""
        diarization = []
        for index, segment in enumerate(self.segments):
            turn = dict(segment)
            if request.get("turnLevelConfidence"):
                speakers = sorted({s["speaker"] for s in self.segments})
                turn["confidence"] = {s: (90 - index if s == segment["speaker"] else 10) for s in speakers}
            diarization.append(turn)
        output: dict[str, Any] = {"diarization": diarization}
        if request.get("exclusive"):
            exclusive = []
            for index, turn in enumerate(diarization):
                clipped = dict(turn)
                if index + 1 < len(diarization):
                    clipped["end"] = min(turn["end"], diarization[index + 1]["start"])
                exclusive.append(clipped)
            output["exclusiveDiarization"] = exclusive
        if request.get("confidence"):
            output["confidence"] = {"score": [80] * 600, "resolution": 0.02}
        if "voiceprints" in request:
            output.update(self._identification(request, diarization))
        return output

    def _identification(self, request: dict[str, Any], diarization: list[dict[str, Any]]) -> dict[str, Any]:
        """``/v1/identify``'s extra output, shaped as the OpenAPI's ``IdentificationJobOutput``.

        ``voiceprints[]``: per speaker, ``match`` (a label, never null: the best scoring one) and
        ``confidence`` (every label's 0-100 score). ``identification[]``: per turn, ``speaker``,
        ``start``, ``end``, ``diarizationSpeaker``, ``match`` (null where the matching settings,
        ``threshold`` and ``exclusive``, match nothing) and, with ``turnLevelConfidence``, the
        turn's ``confidence`` per diarization speaker.
        """
        labels = [entry["label"] for entry in request["voiceprints"]]
        matching = request.get("matching") or {}
        threshold = matching.get("threshold") or 0
        exclusive = matching.get("exclusive", True) is not False
        speakers = list(dict.fromkeys(turn["speaker"] for turn in diarization))
        voiceprints, matched = [], {}
        taken: set[str] = set()
        for n, speaker in enumerate(speakers):
            scores = self.voiceprint_scores.get(speaker) or [90.0 if i == n else 20.0 for i in range(len(labels))]
            confidence = dict(zip(labels, scores, strict=False))
            best = max(confidence, key=confidence.__getitem__)
            ok = confidence[best] >= threshold and not (exclusive and best in taken)
            matched[speaker] = best if ok else None
            if ok:
                taken.add(best)
            voiceprints.append({"speaker": speaker, "match": best, "confidence": confidence})
        identification = []
        for turn in diarization:
            segment = {
                "speaker": matched[turn["speaker"]] or turn["speaker"],
                "start": turn["start"],
                "end": turn["end"],
                "diarizationSpeaker": turn["speaker"],
                "match": matched[turn["speaker"]],
            }
            if "confidence" in turn:
                segment["confidence"] = dict(turn["confidence"])
            identification.append(segment)
        return {"voiceprints": voiceprints, "identification": identification}

    # -- the HTTP handler --

    def handle(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
            scripted = self._take_script(request)
        if scripted is not None:
            return scripted
        if request.path.startswith("/storage/"):
            return self._put_media(request)
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _with_limits(Response.json({"message": "Unauthorized", "requestId": str(uuid.uuid4())}, 401))
        route = (request.method, request.path)
        if route == ("GET", "/v1/test"):
            return _with_limits(Response.json({"status": "OK", "message": "Test connection successful"}))
        if request.method == "POST" and request.path in ("/v1/diarize", "/v1/identify", "/v1/voiceprint"):
            return _with_limits(self._create_job(request, request.path.rsplit("/", 1)[1]))
        if request.method == "GET" and request.path.startswith("/v1/jobs/"):
            return _with_limits(self._get_job(request.path.removeprefix("/v1/jobs/")))
        if route == ("POST", "/v1/media/input"):
            return _with_limits(self._media_input(request))
        return Response.json({"message": "Cannot " + request.method + " " + request.path}, 404)

    def _take_script(self, request: Request) -> Response | None:
        for scripted in self._scripts:
            if scripted.method == request.method and scripted.path.search(request.path):
                scripted.times -= 1
                if scripted.times <= 0:
                    self._scripts.remove(scripted)
                return scripted.response
        return None

    def _create_job(self, request: Request, kind: str) -> Response:
        try:
            body = request.json()
        except orjson.JSONDecodeError:
            return _invalid([("body", "must be JSON")])
        errors = _validate_job_request(body, kind)
        if errors:
            return _invalid(errors)
        job_id = str(uuid.UUID(int=next(self._ids) + 1))
        output = (
            self.output_for(body)
            if kind != "voiceprint"
            else {"voiceprint": base64.b64encode(f"vp-{len(self.jobs) + 1}".encode()).decode()}
        )
        job = FakeJob(job_id, kind, body, list(self.job_statuses), output, error=self.job_error)
        self.jobs[job_id] = job
        if body.get("webhook"):
            threading.Thread(target=self._deliver_webhook, args=(job,), daemon=True).start()
        return Response.json({"jobId": job_id, "status": "created"})

    def _get_job(self, job_id: str) -> Response:
        job = self.jobs.get(job_id)
        if job is not None and job.polls >= self.expire_after_polls.get(job_id, 1 << 30):
            job.expired = job.expired or "404"
        if job is None or job.expired == "404":
            return Response.json({"message": "Job not found", "requestId": str(uuid.uuid4())}, 404)
        status = job.status
        job.polls += 1
        body: dict[str, Any] = {
            "jobId": job.job_id,
            "status": status,
            "createdAt": "2024-02-20T12:00:00Z",
            "updatedAt": "2024-02-20T12:00:05Z",
        }
        if status == "succeeded" and job.expired is None:
            body["output"] = job.output
        elif status == "failed":
            body["output"] = {"error": job.error, "diarization": []}
        return Response.json(body)

    def _media_input(self, request: Request) -> Response:
        try:
            url = request.json().get("url")
        except (orjson.JSONDecodeError, AttributeError):
            return _invalid([("body", "must be JSON")])
        if not isinstance(url, str) or len(url) > 255 or not _MEDIA_KEY.match(url):
            return _invalid([("url", "url must match /^media:\\/\\/[a-zA-Z0-9\\-_\\.\\/]+$/")])
        key = url.removeprefix("media://")
        return Response.json(
            {"url": f"{self.url}/storage/{key}?X-Amz-Expires=3600&X-Amz-Signature={UPLOAD_SIGNATURE}"}, 201
        )

    def _put_media(self, request: Request) -> Response:
        if request.method != "PUT":
            return Response(405)
        if request.query.get("X-Amz-Signature") != [UPLOAD_SIGNATURE]:
            return Response(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>")
        if "content-length" not in request.headers:
            return Response(411, b"<Error><Code>MissingContentLength</Code></Error>")
        self.uploads[request.path.removeprefix("/storage/")] = request.body
        return Response(200, headers={"ETag": '"' + hashlib.md5(request.body).hexdigest() + '"'})

    def _deliver_webhook(self, job: FakeJob) -> None:
        """Finish the job after a short delay and POST the signed notification, as pyannoteAI does."""
        assert self._server is not None
        if self._server.stopping.wait(self.webhook_delay):
            return
        job.polls = len(job.statuses) - 1
        payload: dict[str, Any] = {"jobId": job.job_id, "status": job.status}
        if not job.request.get("webhookStatusOnly") and job.status == "succeeded":
            payload["output"] = job.output
        body = orjson.dumps(payload)
        self.webhook_deliveries.append(self.post_webhook(job.request["webhook"], body))

    def post_webhook(
        self, url: str, body: bytes, *, timestamp: int | None = None, secret: str | None = None, retry: int = 0
    ) -> httpx.Response:
        """POST ``body`` to ``url`` signed like pyannoteAI (tests also use it to forge or replay)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            "Content-Type": "application/json",
            "X-Request-Timestamp": ts,
            "X-Signature": sign(secret or self.webhook_secret, ts, body),
        }
        if retry:
            headers["x-retry-num"] = str(retry)
        return httpx.post(url, content=body, headers=headers, timeout=5)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """pyannoteAI's webhook signature, written independently of diarflow's to cross-check it."""
    mac = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def _validate_job_request(body: Any, kind: str) -> list[tuple[str, str]]:
    if not isinstance(body, dict):
        return [("body", "must be an object")]
    errors: list[tuple[str, str]] = []
    if kind != "identify" or "url" in body:
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://", "media://")):
            errors.append(("url", "url must be a URL address"))
    model = body.get("model")
    if model is not None and model not in (_MODELS if kind == "diarize" else {"precision-2"}):
        errors.append(("model", f"model must be one of the following values: {', '.join(sorted(_MODELS))}"))
    for name in ("numSpeakers", "minSpeakers", "maxSpeakers"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int | float) or value < 1):
            errors.append((name, f"{name} must not be less than 1"))
    low, high = body.get("minSpeakers"), body.get("maxSpeakers")
    if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
        errors.append(("minSpeakers", "minSpeakers must be <= maxSpeakers"))
    for name in ("confidence", "turnLevelConfidence", "exclusive", "webhookStatusOnly"):
        if name in body and not isinstance(body[name], bool):
            errors.append((name, f"{name} must be a boolean value"))
    if kind == "identify":
        voiceprints = body.get("voiceprints")
        if not isinstance(voiceprints, list) or not 1 <= len(voiceprints) <= 50:
            errors.append(("voiceprints", "voiceprints must contain between 1 and 50 elements"))
        else:
            for entry in voiceprints:
                if str(entry.get("label", "")).lower().startswith("speaker_"):
                    errors.append(("voiceprints.label", "label must not start with SPEAKER_"))
    return errors


def _invalid(errors: list[tuple[str, str]]) -> Response:
    return Response.json({"message": "Invalid request", "errors": [{"field": f, "message": m} for f, m in errors]}, 400)


def _with_limits(response: Response) -> Response:
    response.headers.setdefault("X-RateLimit-Limit", "100")
    response.headers.setdefault("X-RateLimit-Remaining", "99")
    return response


def _reason(status: int) -> str:
    return {
        400: "Invalid request",
        401: "Unauthorized",
        402: "Subscription is required",
        404: "Not found",
        429: "Too many requests",
        500: "Internal server error",
        502: "Bad gateway",
        503: "Service unavailable",
    }.get(status, "Error")
