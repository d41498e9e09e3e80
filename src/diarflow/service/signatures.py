"""Inngest request signatures, checked from the headers and the raw body before anything parses the body.

Inngest signs every request it sends to an app with the app's signing key:
``X-Inngest-Signature: t=<unix seconds>&s=<hex HMAC-SHA256(key, body + t)>``,
where ``key`` is the signing key without its ``signkey-<env>-`` prefix.

**Why the raw body.** The Inngest Python SDK (0.5) verifies the HMAC over the
body's RFC 8785 canonical form, so it parses (and re-serialises) the whole
JSON body before it knows whether the request is genuine: an unsigned 62 MiB
body cost 23 s and 2.7 GB. Inngest's executor sends bytes that are already
canonical (its driver applies ``jcs.Transform`` to the request and signs those
exact bytes), so the HMAC of the raw bytes is the one the SDK checks, and it
can be computed while the body streams in, in constant memory. The one
exception is the server's own sync request (``PUT``, a small ``{"url": …}``
body that Inngest's Go SDK signs in canonical form but sends as Go marshals
it): a small ``PUT`` whose raw bytes do not match is also tried in canonical
form (:data:`CANONICAL_FALLBACK_BYTES`).

**Freshness.** The SDK checks the HMAC but not its age, so a captured request
would stay valid forever; we refuse signatures more than
:data:`MAX_SIGNATURE_AGE` seconds from now, as Inngest's TypeScript and Go
SDKs do. The timestamp checked for freshness is the one inside the HMAC, and a
request with more than one signature header is refused outright (the SDK
reads the last one; a check of the first would let a stale one through).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from diarflow.errors import RequestRejected

SIGNATURE_HEADER = "x-inngest-signature"
MAX_SIGNATURE_AGE = 300.0
"""Seconds a signed Inngest request stays valid, either way (clock skew): the window of Inngest's other SDKs."""
CANONICAL_FALLBACK_BYTES = 64 * 1024
"""Largest sync (``PUT``) body also checked in canonical JSON form; real ones are ``{"url": …}``."""

_SIGNATURE = re.compile(r"t=(?P<t>[0-9]{1,13})&s=(?P<s>[0-9a-f]{64})", re.ASCII)
_KEY_PREFIX = re.compile(r"^signkey-\w+-", re.ASCII)


@dataclass(frozen=True)
class RequestSignature:
    """A well-formed, fresh ``X-Inngest-Signature``: its timestamp as signed and its hex digest."""

    timestamp: str
    digest: str


def parse_signature(values: Sequence[str], *, now: float, max_age: float = MAX_SIGNATURE_AGE) -> RequestSignature:
    """The one signature header of a request, or :class:`RequestRejected` (401) saying what is wrong with it."""
    if not values:
        raise RequestRejected(
            401, "X-Inngest-Signature is missing: requests to this endpoint must be signed by Inngest"
        )
    if len(values) > 1:
        raise RequestRejected(401, f"{len(values)} X-Inngest-Signature headers: a request carries exactly one")
    match = _SIGNATURE.fullmatch(values[0].strip())
    if match is None:
        raise RequestRejected(401, "X-Inngest-Signature is malformed: expected t=<unix seconds>&s=<64 hex digits>")
    signed_at = int(match["t"])
    if signed_at > 10**12:  # milliseconds: accepted, the HMAC covers the text as sent
        signed_at //= 1000
    if abs(now - signed_at) > max_age:
        raise RequestRejected(
            401, f"X-Inngest-Signature is older than {max_age:.0f} s (or from the future): refused as a replay"
        )
    return RequestSignature(timestamp=match["t"], digest=match["s"])


def key_bytes(signing_key: str) -> bytes:
    """The HMAC key of an Inngest signing key: the key without its ``signkey-<env>-`` prefix."""
    return _KEY_PREFIX.sub("", signing_key, count=1).encode("utf-8")


class BodyVerifier:
    """Checks a body against a signature chunk by chunk, for each accepted signing key (current and fallback)."""

    def __init__(self, signature: RequestSignature, signing_keys: Sequence[str]) -> None:
        self._signature = signature
        self._keys = [key for key in signing_keys if key]
        self._macs = [hmac.new(key_bytes(key), digestmod=hashlib.sha256) for key in self._keys]

    def update(self, chunk: bytes) -> None:
        for mac in self._macs:
            mac.update(chunk)

    def verified_key(self) -> str | None:
        """The signing key whose HMAC of the raw body matches, or None."""
        for key, mac in zip(self._keys, self._macs, strict=True):
            final = mac.copy()
            final.update(self._signature.timestamp.encode("ascii"))
            if hmac.compare_digest(final.hexdigest(), self._signature.digest):
                return key
        return None

    def verified_key_of_canonical(self, body: bytes) -> str | None:
        """The key that signed the canonical JSON form of a small ``body`` (Inngest's sync requests), or None."""
        if len(body) > CANONICAL_FALLBACK_BYTES:
            return None
        import jcs  # type: ignore[import-untyped]  # the SDK's own canonicaliser (RFC 8785)
        import orjson

        try:
            canonical: bytes = jcs.canonicalize(orjson.loads(body))
        except (ValueError, TypeError, RecursionError):
            return None
        retry = BodyVerifier(self._signature, self._keys)
        retry.update(canonical)
        return retry.verified_key()


def sign_body(body: bytes, signing_key: str, timestamp: int) -> str:
    """``X-Inngest-Signature`` for ``body`` at ``timestamp``, as Inngest and the SDK compute it."""
    mac = hmac.new(key_bytes(signing_key), body, hashlib.sha256)
    mac.update(str(timestamp).encode("ascii"))
    return f"t={timestamp}&s={mac.hexdigest()}"
