"""HTTP downloads that connect to the address the URL policy checked, and to no other (no DNS rebinding).

Checking a URL's host and then letting the HTTP client connect resolves the
name twice; a resolver that answers a public address to the check and
``127.0.0.1`` to the connection gets a loopback or metadata address fetched.
Here there is one resolution per connection: :class:`PinnedBackend` is the
httpcore network backend that opens every TCP connection, and it connects to
the addresses :func:`~diarflow.adapters.url_policy.resolve_checked` returned
for that host. Everything else about the request stays the hostname's: the
``Host`` header, the TLS server name (SNI) and certificate verification come
from the URL, not from the address connected to. A redirect to another host
opens another connection, so it is checked and pinned the same way; the pool
reuses a connection only for the same scheme, host and port.

Proxies from the environment (``HTTPS_PROXY``…) are not used for these
downloads: a proxy would resolve the name again, out of our sight.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable

import httpcore
import httpx

from diarflow.adapters.url_policy import Resolver, UrlPolicy, redirect_guard, resolve_checked


class PinnedBackend(httpcore.SyncBackend):
    """Opens TCP connections to the checked addresses of the requested host, trying them in order."""

    def __init__(self, policy: UrlPolicy, *, resolve: Resolver | None = None) -> None:
        self.policy = policy
        self.resolve = resolve

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in resolve_checked(host, port, self.policy, resolve=self.resolve):
            try:
                return super().connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the next address of the same host may answer
        assert failure is not None  # resolve_checked returns at least one address or raises
        raise failure


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport, with its connection pool opening connections through :class:`PinnedBackend`."""

    def __init__(
        self, policy: UrlPolicy, *, resolve: Resolver | None = None, verify: ssl.SSLContext | bool = True
    ) -> None:
        ssl_context = httpx.create_ssl_context(verify=verify)
        super().__init__(verify=ssl_context)
        # httpx takes no network backend; the pool it keeps in ``_pool`` is the one piece replaced.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context, network_backend=PinnedBackend(policy, resolve=resolve)
        )


def pinned_client(
    policy: UrlPolicy,
    *,
    timeout: float = 60.0,
    resolve: Resolver | None = None,
    verify: ssl.SSLContext | bool = True,
) -> httpx.Client:
    """A client for fetching untrusted URLs: redirects followed, each URL checked, each connection pinned.

    ``verify``: certificate verification (True: certifi's authorities, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``).
    """
    return httpx.Client(
        transport=PinnedTransport(policy, resolve=resolve, verify=verify),
        follow_redirects=True,
        timeout=timeout,
        event_hooks={"request": [redirect_guard(policy)]},
    )
