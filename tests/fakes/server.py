"""A tiny threaded HTTP server on 127.0.0.1 with an ephemeral port, for fakes of remote APIs.

Stdlib only (``http.server``): the fakes need routing, raw bodies, custom
headers and the ability to hang, nothing a framework would add. Handlers
that hang wait on the server's stop event, so ``close()`` never blocks on them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import orjson


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0
    """Seconds to wait before answering (a hung server); cut short when the server stops."""

    @classmethod
    def json(cls, value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        merged = {"Content-Type": "application/json"}
        merged.update(headers or {})
        return cls(status, orjson.dumps(value), merged)


Handler = Callable[[Request], Response]


class FakeServer:
    """Serves ``handler`` on loopback in a background thread; use as a context manager."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.stopping = threading.Event()
        outer = self

        class _RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                headers = {name.lower(): value for name, value in self.headers.items()}
                body = self._read_body(headers)
                request = Request(self.command, parts.path, parse_qs(parts.query), headers, body)
                try:
                    response = outer.handler(request)
                except Exception as exc:  # a bug in a fake must show up as a 500, not a hung socket
                    response = Response.json({"message": f"fake server error: {exc!r}"}, 500)
                if response.hang and outer.stopping.wait(response.hang):
                    self.close_connection = True
                    return
                try:
                    self.send_response(response.status)
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def _read_body(self, headers: dict[str, str]) -> bytes:
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().strip().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    return b"".join(chunks)
                length = int(headers.get("content-length") or 0)
                return self.rfile.read(length) if length else b""

            # http.server dispatches on these names.
            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _RequestHandler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits up to one interval, and tests open many servers.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-http", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class ServedFake:
    """Lifecycle of a fake API: ``with Fake() as fake:`` serves ``fake.handle`` on loopback at ``fake.url``."""

    _server: FakeServer | None

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._server = FakeServer(self.handle).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None, f"start the fake with `with {type(self).__name__}() as fake:`"
        return self._server.url


@contextlib.contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    """Serve an already bound ``server`` from a background thread for the ``with`` block; always shut it down.

    For servers a :class:`FakeServer` cannot be (TLS, a body sent in parts).
    """
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
