"""Object stores: one interface, a local-directory and an S3 implementation."""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from diarflow.adapters.stores.base import ObjectStore, check_key, check_prefix, dump_json, get_json, put_json
from diarflow.adapters.stores.local import LocalStore
from diarflow.errors import InvalidConfig

DEFAULT_STORE = "./diarflow-data"
STORE_ENV = "DIARFLOW_STORE"
_FORMS = "use a directory path, file:///absolute/path or s3://bucket[/prefix]"


def resolve_store_url(url: str | None = None) -> str:
    """``url`` if given, else ``$DIARFLOW_STORE``, else the embedded default."""
    return url or os.environ.get(STORE_ENV) or DEFAULT_STORE


def open_store(url: str | None = None) -> ObjectStore:
    """Open the store a URL names: a directory, ``file://…`` or ``s3://bucket[/prefix]``.

    Opening does no I/O: a bad URL fails here with :class:`InvalidConfig`, an
    unreachable store on first use with a storage error.
    """
    url = resolve_store_url(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if "@" in parts.netloc:
        # Never echo the URL: the part before "@" may be a secret.
        raise InvalidConfig("store", f"{scheme}:// store URLs must not carry credentials ({_FORMS})")
    if scheme == "s3":
        if not parts.netloc:
            raise InvalidConfig("store", f"{url!r} names no bucket: use s3://bucket[/prefix]")
        if parts.query or parts.fragment:
            raise InvalidConfig("store", f"{url!r}: s3:// URLs take no query or fragment")
        from diarflow.adapters.stores.s3 import S3Store

        return S3Store(parts.netloc, parts.path)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidConfig("store", f"{url!r}: file URLs must name a local path (file:///path)")
        if not parts.path or parts.query or parts.fragment:
            raise InvalidConfig("store", f"{url!r} names no directory: use file:///absolute/path")
        return LocalStore(unquote(parts.path))
    if len(scheme) > 1:  # one letter is a Windows drive, i.e. a path
        raise InvalidConfig("store", f"unsupported store URL scheme {scheme!r}: {_FORMS}")
    return LocalStore(url)


__all__ = [
    "DEFAULT_STORE",
    "STORE_ENV",
    "LocalStore",
    "ObjectStore",
    "check_key",
    "check_prefix",
    "dump_json",
    "get_json",
    "open_store",
    "put_json",
    "resolve_store_url",
]
