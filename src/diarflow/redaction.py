"""Keep secrets out of messages: every error text and log line passes through :func:`redact`.

Adapters already build messages without credentials; this is the second line
of defence for text we do not control (a dependency's exception message).
"""

from __future__ import annotations

import logging
import os
import re

SECRET_ENV_VARS = (
    "PYANNOTEAI_API_KEY",
    "PYANNOTEAI_WEBHOOK_SECRET",
    "DEEPGRAM_API_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "INNGEST_SIGNING_KEY",
    "INNGEST_SIGNING_KEY_FALLBACK",
    "INNGEST_EVENT_KEY",
)
_MIN_SECRET_LENGTH = 4  # shorter values would redact ordinary words
_CREDENTIAL_PATTERNS = re.compile(
    r"(?i)(authorization:\s*(?:bearer|token)\s+)\S+|((?:x-amz-signature|signature|token|key)=)[^&\s]+"
)
# Pre-signed URLs carry credentials in many parameters (X-Amz-Credential, X-Goog-Credential, Azure's sig/se…):
# an http(s) URL's whole query string goes, whatever its parameters are called.
_URL_QUERY = re.compile(r"(?i)(https?://[^\s?#\"'<>]+)\?[^\s#\"'<>]+")


def _secret_values() -> list[str]:
    values = [os.environ.get(name, "") for name in SECRET_ENV_VARS]
    return sorted({v for v in values if len(v) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)


def redact(text: str) -> str:
    """Replace known secret values, URL query strings and credential-looking fragments with ``***``."""
    for value in _secret_values():
        text = text.replace(value, "***")
    text = _URL_QUERY.sub(r"\1?***", text)
    return _CREDENTIAL_PATTERNS.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
