"""Object stores: one interface, a local-directory and an S3 implementation."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from diarflow.adapters.stores.base import ObjectStore, check_key, dump_json, get_json, put_json
from diarflow.adapters.stores.local import LocalStore
from diarflow.errors import InvalidConfig

DEFAULT_STORE = "./diarflow-data"
STORE_ENV = "DIARFLOW_STORE"


def resolve_store_url(url: str | None = None) -> str:
    """``url`` if given, else ``$DIARFLOW_STORE``, else the embedded default."""
    return url or os.environ.get(STORE_ENV) or DEFAULT_STORE


def open_store(url: str | None = None) -> ObjectStore:
    """Open the store a URL names: a directory, ``file://…`` or ``s3://bucket[/prefix]``."""
    url = resolve_store_url(url)
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise InvalidConfig("store", f"{url!r} names no bucket: use s3://bucket[/prefix]")
        from diarflow.adapters.stores.s3 import S3Store

        return S3Store(parts.netloc, parts.path)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidConfig("store", f"{url!r}: file URLs must name a local path (file:///path)")
        return LocalStore(parts.path)
    if parts.scheme and len(parts.scheme) > 1:
        raise InvalidConfig("store", f"unsupported store URL scheme {parts.scheme!r}: use a path, file:// or s3://")
    return LocalStore(url)


__all__ = [
    "DEFAULT_STORE",
    "STORE_ENV",
    "LocalStore",
    "ObjectStore",
    "check_key",
    "dump_json",
    "get_json",
    "open_store",
    "put_json",
    "resolve_store_url",
]
