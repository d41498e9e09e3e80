"""The object-store interface every store implements.

A store maps keys (``diarization/E1.json``) to bytes. Implementations make
each write atomic (a reader sees the old object or the new one, never half)
and translate their back end's errors into :mod:`diarflow.errors`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import orjson

from diarflow.domain.json_values import undecodable
from diarflow.errors import InvalidInput, StorageError

MAX_KEY_LENGTH = 1024


@runtime_checkable
class ObjectStore(Protocol):
    """Bytes by key, with atomic writes and a create-if-absent primitive."""

    url: str
    """Where the store lives, for messages (never carries credentials)."""

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        """Write ``data`` at ``key`` atomically, replacing any existing object."""

    def get_bytes(self, key: str) -> bytes:
        """Read the object at ``key``; :class:`~diarflow.errors.ArtifactNotFound` if absent."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object exists at ``key``."""
        ...

    def version(self, key: str) -> str | None:
        """An opaque token that changes whenever the object at ``key`` is rewritten; None if absent.

        The local runner keeps it in checkpoints to notice artifacts changed or removed since.
        """
        ...

    def size(self, key: str) -> int | None:
        """The object's size in bytes without reading it; None if absent."""
        ...

    def list(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix`` (see :func:`check_prefix`), in lexicographic order."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; deleting a missing key is not an error."""

    def create_if_absent(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> bool:
        """Write ``data`` only if nothing exists at ``key``; False when the key was taken."""
        ...


def check_key(key: str) -> str:
    """Reject keys that could escape the store root or are not portable."""
    if not isinstance(key, str) or not key:
        raise InvalidInput("key", "must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput("key", f"is {len(key)} characters long; the limit is {MAX_KEY_LENGTH}")
    if key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidInput("key", f"{key[:80]!r} must be relative, without backslashes or NUL")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts[:-1]) or parts[-1] in ("", ".", ".."):
        raise InvalidInput("key", f"{key[:80]!r} has an empty, '.' or '..' part")
    return key


def check_prefix(prefix: str) -> str:
    """Reject list prefixes that could escape the store root; ``""`` lists everything.

    A prefix is a string prefix of keys, so its last part may be partial
    (``diarization/E1.``) or empty (``runs/E1/``); the parts before it are
    directories and follow the key rules.
    """
    if not isinstance(prefix, str):
        raise InvalidInput("prefix", "must be a string")
    if not prefix:
        return prefix
    if len(prefix) > MAX_KEY_LENGTH:
        raise InvalidInput("prefix", f"is {len(prefix)} characters long; the limit is {MAX_KEY_LENGTH}")
    if prefix.startswith("/") or "\\" in prefix or "\x00" in prefix:
        raise InvalidInput("prefix", f"{prefix[:80]!r} must be relative, without backslashes or NUL")
    if any(part in ("", ".", "..") for part in prefix.split("/")[:-1]):
        raise InvalidInput("prefix", f"{prefix[:80]!r} has an empty, '.' or '..' part")
    return prefix


def put_json(store: ObjectStore, key: str, value: Any) -> bytes:
    """Serialize ``value`` with orjson, write it, and return the bytes written."""
    data = dump_json(value)
    store.put_bytes(key, data, content_type="application/json")
    return data


def get_json(store: ObjectStore, key: str) -> Any:
    """Read and parse a JSON object; a corrupt object is a :class:`StorageError`."""
    data = store.get_bytes(key)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        field, problem = undecodable(data, exc, "")
        raise StorageError(f"{store.url}: object {key}{f' at {field}' if field else ''} {problem}", key=key) from None


def dump_json(value: Any) -> bytes:
    """The canonical JSON encoding of artifacts (compact, UTF-8, numpy-aware)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
