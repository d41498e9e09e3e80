"""Which audio URLs diarflow accepts, and which addresses it may fetch from (SSRF guard).

Two checks, because they belong at two moments:

* :func:`check_audio_url` is pure (no DNS, no I/O): it runs when a request
  arrives, so a hostile ``audio_url`` fails before any step. ``http(s)://``
  and ``s3://`` are always accepted; local paths and ``file:`` URLs only in
  local runs (``diarflow run``) or with ``DIARFLOW_ALLOW_FILE_URLS`` — in an
  event they would make the service read (and upload to pyannoteAI or
  Deepgram) any file on its own disk. Literal loopback, link-local and
  private addresses are refused unless ``DIARFLOW_ALLOW_PRIVATE_URLS``.
* :func:`resolve_checked` resolves a host once and refuses the same address
  ranges; the addresses it returns are the ones to connect to. Downloads
  connect through :mod:`diarflow.adapters.pinned_http`, which calls it for
  every connection (each redirect to a new host opens one) and connects to
  exactly the addresses it checked: a name whose DNS answers a public address
  to the check and ``127.0.0.1`` to the connection (DNS rebinding) cannot
  reach loopback, because there is no second lookup. :func:`check_fetch_target`
  is the same check on a whole URL, for refusing early (before a model loads);
  :func:`redirect_guard` applies the pure check to every redirect's URL.

URLs handed to pyannoteAI or Deepgram are fetched by them, not by us; the
pure check still applies so the same event behaves the same on every path.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from diarflow.errors import InvalidUrl

if TYPE_CHECKING:
    import httpx

    from diarflow.config import Settings

MAX_URL_LENGTH = 4096
REMOTE_SCHEMES = frozenset({"http", "https"})
UrlKind = Literal["remote", "s3", "file"]
Resolver = Callable[[str, int], Iterable[str]]
"""``(host, port) -> IP addresses``; the default asks the system resolver."""

_BLOCKED_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


@dataclass(frozen=True)
class UrlPolicy:
    """What a run may read audio from."""

    allow_file: bool = False
    """Local paths and ``file:`` URLs (local runs)."""
    allow_private: bool = False
    """Loopback, link-local, private, shared and reserved addresses."""

    @classmethod
    def from_settings(cls, settings: Settings, *, local_run: bool = False) -> UrlPolicy:
        return cls(allow_file=local_run or settings.allow_file_urls, allow_private=settings.allow_private_urls)


def check_audio_url(url: str, policy: UrlPolicy, *, field: str = "audio_url") -> UrlKind:
    """Classify ``url`` or raise :class:`InvalidUrl` naming ``field``; no DNS, no I/O."""
    if not isinstance(url, str) or not url:
        raise InvalidUrl(field, "must be a non-empty string")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidUrl(field, f"is {len(url):,} characters long; the limit is {MAX_URL_LENGTH:,}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise InvalidUrl(field, "contains control characters")
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError on a malformed port)
    except ValueError as exc:
        raise InvalidUrl(field, f"is not a valid URL ({exc})") from None

    if scheme in REMOTE_SCHEMES:
        if not host or not host.rstrip("."):  # "." and ".." are the root of DNS, not a host
            raise InvalidUrl(field, f"{scheme}:// URL names no host")
        if parts.username is not None or parts.password is not None:
            raise InvalidUrl(field, "must not carry credentials before the host (use a pre-signed URL instead)")
        if not policy.allow_private:
            _refuse_private_literal(host, field)
        return "remote"
    if scheme == "s3":
        if not parts.netloc or not parts.path.strip("/"):
            raise InvalidUrl(field, "s3:// URLs must name a bucket and a key: s3://bucket/key")
        return "s3"
    if scheme == "file" or not scheme or _is_windows_drive(scheme, url):
        if not policy.allow_file:
            raise InvalidUrl(
                field,
                "local paths and file: URLs are accepted only by local runs (diarflow run) or with "
                "DIARFLOW_ALLOW_FILE_URLS=true; give an http(s):// or s3:// URL",
            )
        if scheme == "file" and parts.netloc not in ("", "localhost"):
            raise InvalidUrl(field, "file: URLs must name a local path (file:///path)")
        return "file"
    raise InvalidUrl(field, f"scheme {scheme!r} is not supported: use http://, https:// or s3://")


def check_fetch_target(
    url: str, policy: UrlPolicy, *, resolve: Resolver | None = None, field: str = "audio_url"
) -> list[str]:
    """Resolve the host of an ``http(s)`` URL and refuse it if any address is not public; returns the addresses.

    Every address the name resolves to must be public: a name that resolves to
    both a public and a private address could be answered with either.
    """
    check_audio_url(url, policy, field=field)
    parts = urlsplit(url)
    if parts.scheme.lower() not in REMOTE_SCHEMES:
        return []
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return resolve_checked(parts.hostname or "", port, policy, resolve=resolve, field=field)


def resolve_checked(
    host: str, port: int, policy: UrlPolicy, *, resolve: Resolver | None = None, field: str = "audio_url"
) -> list[str]:
    """Resolve ``host`` once; refuse it if any address is not public (unless allowed); the addresses.

    Connect to these addresses and no others, in this order (the resolver's preference): resolving
    the name again could answer differently.
    """
    try:
        addresses = list(dict.fromkeys((resolve or _system_resolve)(host, port)))
    except OSError as exc:
        raise InvalidUrl(field, f"host {host!r} cannot be resolved ({exc.strerror or type(exc).__name__})") from None
    if not addresses:
        raise InvalidUrl(field, f"host {host!r} resolves to no address")
    if not policy.allow_private:
        for address in addresses:
            if not is_public_address(address):
                raise InvalidUrl(
                    field,
                    f"host {host!r} resolves to {address}, a {_describe(address)} address; diarflow does not "
                    "fetch from those (set DIARFLOW_ALLOW_PRIVATE_URLS=true to allow it)",
                )
    return addresses


def redirect_guard(policy: UrlPolicy) -> Callable[[httpx.Request], None]:
    """An httpx ``event_hooks={"request": [...]}`` hook: the pure URL check on every request, redirects included.

    No DNS here: the addresses are checked where the connection is made (:mod:`~diarflow.adapters.pinned_http`).
    """

    def hook(request: httpx.Request) -> None:
        check_audio_url(str(request.url), policy)

    return hook


def is_public_address(address: str) -> bool:
    """Whether an IP address is globally routable (not loopback, private, link-local, shared, reserved…)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address) and ip.sixtofour is not None:
        ip = ip.sixtofour
    return bool(ip.is_global) and not ip.is_multicast


def _refuse_private_literal(host: str, field: str) -> None:
    """Refuse hosts that are non-public IP literals or well-known loopback names (pure: no DNS)."""
    name = host.rstrip(".").lower()
    if name in _BLOCKED_NAMES or name.endswith(".localhost"):
        raise InvalidUrl(field, f"host {host!r} is loopback (set DIARFLOW_ALLOW_PRIVATE_URLS=true to allow it)")
    address = _literal_address(name)
    if address is not None and not is_public_address(address):
        raise InvalidUrl(
            field,
            f"host {host!r} is a {_describe(address)} address (set DIARFLOW_ALLOW_PRIVATE_URLS=true to allow it)",
        )


def _literal_address(name: str) -> str | None:
    """The IP address a host literal denotes, including the shorthand forms resolvers accept (``127.1``, ``0x7f.1``)."""
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    try:
        # inet_aton accepts decimal, octal and hex parts and short forms, exactly like the C resolver does.
        return socket.inet_ntoa(socket.inet_aton(name))
    except OSError:
        return None


def _describe(address: str) -> str:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for label, flag in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    ):
        if flag:
            return label
    return "non-public"


def _is_windows_drive(scheme: str, url: str) -> bool:
    return len(scheme) == 1 and url[1:3] in (":\\", ":/")


def _system_resolve(host: str, port: int) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]
