"""One HTTP policy for every remote API: timeouts, retries with backoff and jitter, error mapping.

pyannoteAI and Deepgram are called through :class:`ApiCaller`, which

* gives every request a timeout (no call can hang a step forever);
* retries connection errors, 429 and 5xx with exponential backoff and full
  jitter, honouring ``Retry-After`` / ``X-RateLimit-Reset`` on 429;
* never retries 400/401/402/403/404: the request itself is wrong, and
  repeating it only burns rate limit;
* turns every failure into :mod:`diarflow.errors`, with a message that names
  the service, the method and the path — never a header, an API key or a
  query string (pre-signed URLs carry credentials there).

Non-idempotent requests (a POST that starts a paid job) are not retried after
a *read* timeout, because the server may have accepted the request: the
error is retryable and the engine's step retry decides instead.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from diarflow.errors import (
    DiarflowError,
    RemoteAuthenticationFailed,
    RemotePaymentRequired,
    RemoteRateLimited,
    RemoteRequestRejected,
    RemoteResponseInvalid,
    RemoteServiceError,
    RemoteServiceUnavailable,
    request_id_note,
)
from diarflow.redaction import redact

logger = logging.getLogger(__name__)

_URL_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']+")


class _HttpxLogFilter(logging.Filter):
    """httpx logs each request's full URL at INFO: drop query strings (pre-signed URLs keep credentials there)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(_URL_QUERY.sub(r"\1?***", message))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


# Installed once on import: whoever configures logging (CLI, service, tests) gets clean httpx records.
for _name in ("httpx", "httpcore"):
    _target = logging.getLogger(_name)
    if not any(isinstance(f, _HttpxLogFilter) for f in _target.filters):
        _target.addFilter(_HttpxLogFilter())

#: Statuses worth repeating: the server is overloaded, rate-limiting or broken for now.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


# --- policy -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. Tests shrink the delays; production keeps the defaults."""

    attempts: int = 5
    """Total tries of one request, the first included."""
    base_delay: float = 0.5
    """Backoff before retry *n* is drawn uniformly from ``[0, min(max_delay, base_delay * 2**n)]``."""
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    """A longer ``Retry-After`` is not slept through inside one step: the error goes to the engine."""
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    rng: Callable[[], float] = field(default=random.random, compare=False)

    def backoff(self, retry: int) -> float:
        """The jittered delay before retry number ``retry`` (0-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2**retry))
        return float(ceiling * self.rng())


@dataclass(frozen=True)
class Timeouts:
    """Seconds per phase of a request; ``read`` bounds the wait for each chunk of the answer."""

    connect: float = 10.0
    read: float = 60.0
    write: float = 60.0
    pool: float = 10.0

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


# --- the caller ---------------------------------------------------------------------------


Body = bytes | Callable[[], Iterable[bytes]]
"""A request body: bytes, or a factory of a fresh byte stream (so a retry can stream it again)."""


@dataclass
class ApiCaller:
    """Sends requests to one service under the retry policy and maps failures to diarflow errors."""

    service: str
    """Human name in messages, e.g. ``pyannoteAI``."""
    key_env: str
    """The environment variable holding the key, named in the 401 message."""
    client: httpx.Client
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    secrets: tuple[str, ...] = ()
    """Values scrubbed from every message built from a response body, as a second line of defence."""
    describe_error: Callable[[httpx.Response], str] = field(default=lambda response: _default_error_text(response))
    request_id_of: Callable[[httpx.Response], str | None] = field(default=lambda response: None)
    """The id the service gave an error answer (e.g. pyannoteAI's ``requestId``), kept in the error."""

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        content: Body | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        expected: Iterable[int] = (200,),
        idempotent: bool | None = None,
        what: str | None = None,
    ) -> httpx.Response:
        """Send one logical request, retrying transient failures; return the response with an expected status.

        ``what`` replaces ``METHOD path`` in messages (e.g. for a pre-signed URL
        whose path means nothing to the user).
        """
        expected_statuses = frozenset(expected)
        idempotent = method.upper() in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS") if idempotent is None else idempotent
        label = what or f"{method.upper()} {_path_only(url)}"
        attempts = max(1, self.retry.attempts)
        last_error: RemoteServiceError | None = None
        for attempt in range(attempts):
            if attempt:
                delay = self._delay_before(attempt - 1, last_error)
                logger.info(
                    "%s: %s failed (%s); retry %d/%d in %.2fs",
                    self.service,
                    label,
                    _short(last_error),
                    attempt,
                    attempts - 1,
                    delay,
                )
                self.retry.sleep(delay)
            try:
                response = self._send(method, url, json=json, content=content, headers=headers, params=params)
            except httpx.TimeoutException as exc:
                last_error = self._timeout_error(exc, label)
                sent = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
                if sent and not idempotent:
                    raise last_error from None
                continue
            except httpx.TransportError as exc:
                last_error = RemoteServiceUnavailable(
                    f"{self.service}: {label}: could not reach the service ({type(exc).__name__}); "
                    "check the network and the API URL"
                )
                if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
                    raise RemoteServiceError(
                        f"{self.service}: {label}: the API URL is not a valid http(s) URL"
                    ) from None
                continue
            if response.status_code in expected_statuses:
                return response
            error = self._status_error(response, label)
            if not error.retryable:
                raise error
            last_error = error
            if isinstance(error, RemoteRateLimited) and (error.retry_after or 0) > self.retry.max_retry_after:
                raise error
        assert last_error is not None
        raise type(last_error)(
            f"{last_error.message} (gave up after {attempts} attempts)",
            status_code=last_error.status_code,
            request_id=last_error.request_id,
        ) from None

    def request_json(self, method: str, url: str, **kwargs: Any) -> Any:
        """:meth:`request`, then parse the body as JSON (an unreadable body is a clear error)."""
        response = self.request(method, url, **kwargs)
        return self.parse_json(response, kwargs.get("what") or f"{method.upper()} {_path_only(url)}")

    def parse_json(self, response: httpx.Response, label: str) -> Any:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise RemoteResponseInvalid(
                f"{self.service}: {label} answered {response.status_code} with a body that is not JSON "
                f"({len(response.content)} bytes, content type {response.headers.get('content-type', 'unknown')!r})",
                status_code=response.status_code,
            ) from None

    # -- internals --

    def _send(
        self,
        method: str,
        url: str,
        *,
        json: Any,
        content: Body | None,
        headers: Mapping[str, str] | None,
        params: Mapping[str, str] | None,
    ) -> httpx.Response:
        if json is not None:
            return self.client.request(
                method, url, content=orjson.dumps(json), headers=_json_headers(headers), params=params
            )
        body = content() if callable(content) else content
        return self.client.request(method, url, content=body, headers=dict(headers or {}), params=params)

    def _delay_before(self, retry: int, error: RemoteServiceError | None) -> float:
        retry_after = error.retry_after if isinstance(error, RemoteRateLimited) else None
        if retry_after is not None:
            # The server told us when; a little jitter keeps parallel workers from returning in lockstep.
            return retry_after + min(1.0, retry_after * 0.1) * self.retry.rng()
        return self.retry.backoff(retry)

    def _timeout_error(self, exc: httpx.TimeoutException, label: str) -> RemoteServiceUnavailable:
        timeout = self.client.timeout
        phase, seconds = {
            httpx.ConnectTimeout: ("connect", timeout.connect),
            httpx.ReadTimeout: ("answer", timeout.read),
            httpx.WriteTimeout: ("accept the upload", timeout.write),
            httpx.PoolTimeout: ("free a connection", timeout.pool),
        }.get(type(exc), ("answer", timeout.read))
        return RemoteServiceUnavailable(f"{self.service}: {label}: the service did not {phase} within {seconds:g}s")

    def _status_error(self, response: httpx.Response, label: str) -> RemoteServiceError:
        status = response.status_code
        detail = self._scrub(self.describe_error(response))
        suffix = f": {detail}" if detail else ""
        request_id = self._request_id(response)
        # Right after the status, so a message cut to MAX_ERROR_MESSAGE still carries it.
        rid = request_id_note(request_id)
        if status == 401 or status == 403:
            return RemoteAuthenticationFailed(
                f"{self.service} rejected the API key ({self.key_env}){rid}{suffix}; check the key and its permissions",
                status_code=status,
                request_id=request_id,
            )
        if status == 402:
            return RemotePaymentRequired(
                f"{self.service}: {label}: payment required (402){rid}{suffix}; "
                "add credit or a subscription to the account",
                status_code=status,
                request_id=request_id,
            )
        if status == 429:
            return RemoteRateLimited(
                f"{self.service}: {label}: rate limited (429){rid}{suffix}",
                retry_after=_retry_after(response.headers),
                request_id=request_id,
            )
        if status >= 500 or status in RETRYABLE_STATUSES:
            return RemoteServiceUnavailable(
                f"{self.service}: {label}: server error ({status}){rid}{suffix}",
                status_code=status,
                request_id=request_id,
            )
        return RemoteRequestRejected(
            f"{self.service}: {label}: request refused ({status}){rid}{suffix}",
            status_code=status,
            request_id=request_id,
        )

    def _request_id(self, response: httpx.Response) -> str | None:
        """The service's id for this answer; never one that holds a secret (it is quoted from the answer)."""
        try:
            request_id = self.request_id_of(response)
        except Exception:  # a hook reading a malformed body must not hide the real error
            return None
        if not request_id or self._scrub(request_id) != request_id:
            return None
        return request_id

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


# --- helpers ------------------------------------------------------------------------------


def _json_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    merged = {"Content-Type": "application/json"}
    merged.update(headers or {})
    return merged


def _path_only(url: str) -> str:
    """The path of a URL: never its query (signed URLs keep credentials there) nor its host."""
    return urlsplit(url).path or "/"


def _short(error: DiarflowError | None) -> str:
    return "" if error is None else error.message[:200]


def _default_error_text(response: httpx.Response) -> str:
    """The ``message`` a JSON error body carries, else nothing (bodies of proxies are noise)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return ""
    if isinstance(body, dict):
        for name in ("message", "err_msg", "error", "detail"):
            value = body.get(name)
            if isinstance(value, str) and value:
                return value[:300]
    return ""


def _retry_after(headers: httpx.Headers, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date), else ``X-RateLimit-Reset`` (epoch seconds)."""
    raw = headers.get("retry-after")
    if raw:
        try:
            seconds = float(raw)
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                parsed = None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - now())
        else:
            if math.isfinite(seconds):
                return max(0.0, seconds)
    reset = headers.get("x-ratelimit-reset")
    if reset:
        try:
            at = float(reset)
        except ValueError:
            return None
        if math.isfinite(at):
            return max(0.0, at - now())
    return None


def error_body_text(response: httpx.Response, *, field_errors: bool = True) -> str:
    """``message`` plus ``errors[{field, message}]`` of a pyannoteAI-style validation error body."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts: list[str] = []
    message = body.get("message") or body.get("err_msg")
    if isinstance(message, str) and message:
        parts.append(message[:300])
    errors = body.get("errors")
    if field_errors and isinstance(errors, list):
        details = [
            f"{item.get('field')}: {item.get('message')}"
            for item in errors[:10]
            if isinstance(item, dict) and item.get("message")
        ]
        if details:
            parts.append("; ".join(details)[:600])
    return " — ".join(parts)
