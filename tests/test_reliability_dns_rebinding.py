"""DNS rebinding: the address checked is the address connected to, on every hop and every download path.

The attack: a name whose resolver answers a public address the first times it
is asked (the checks) and ``127.0.0.1`` afterwards (the connection). Before
the fix diarflow resolved the name to check it and let httpx resolve it again
to connect, so a loopback service was fetched.

This test stands in for the internet at the socket layer, nothing of
diarflow's own: ``socket.getaddrinfo`` answers the test's names (a rebinding
name answers :data:`PUBLIC_IP` ``k`` times, then ``127.0.0.1``), and
``socket.create_connection`` dials loopback addresses for real but routes
:data:`PUBLIC_IP` only to the "public" loopback server's port (any other port
of it refuses, as a remote host would). The "internal" server is the victim:
no request may reach it, and no connection may be dialled to it.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from diarflow.adapters.diarizers.local import local_diarizer_available
from diarflow.adapters.diarizers.local.audio import AudioError, local_audio_path
from diarflow.adapters.registry import VoiceprintRegistry
from diarflow.adapters.stores import LocalStore
from diarflow.adapters.url_policy import InvalidUrl, UrlPolicy
from diarflow.config import Settings
from diarflow.contracts import LOCAL_VOICEPRINT_MODEL, VoiceprintEntry, VoiceprintSource, utc_now
from diarflow.contracts.results import StoredRef
from diarflow.contracts.step_args import DiarizeArgs, IdentifyArgs
from diarflow.orchestration import Workspace, ingest_transcript, stages
from diarflow.orchestration.enrollment import enroll_voice
from tests import recut
from tests.fakes.server import FakeServer, Request, Response, serving
from tests.reliability import record

PUBLIC_IP = "93.184.216.34"
"""A globally routable address (example.com's of old): the policy accepts it; the stand-in routes it."""
AUDIO = (recut.SAMPLES / "sample.wav").read_bytes()
SAMPLE_TRANSCRIPT = (recut.SAMPLES / "sample.deepgram.json").read_bytes()


class Internet:
    """``socket.getaddrinfo`` and ``socket.create_connection`` as the test's world has them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import socket

        self._socket = socket
        self._real_getaddrinfo = socket.getaddrinfo
        self._real_create_connection = socket.create_connection
        self.names: dict[str, Callable[[], list[str]]] = {}
        self.public_ports: set[int] = set()
        """Ports of :data:`PUBLIC_IP` that answer (routed to the same port on 127.0.0.1)."""
        self.dialled: list[tuple[str, int]] = []
        monkeypatch.setattr(socket, "getaddrinfo", self.getaddrinfo)
        monkeypatch.setattr(socket, "create_connection", self.create_connection)

    def rebinding(self, name: str, public_answers: int) -> None:
        """``name`` resolves to :data:`PUBLIC_IP` ``public_answers`` times, then to 127.0.0.1 for good."""
        asked = [0]

        def answer() -> list[str]:
            asked[0] += 1
            return [PUBLIC_IP] if asked[0] <= public_answers else ["127.0.0.1"]

        self.names[name] = answer

    def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if isinstance(host, str) and host in self.names:
            socket = self._socket
            return [
                (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port or 0)))
                for address in self.names[host]()
            ]
        return self._real_getaddrinfo(host, port, *args, **kwargs)

    def create_connection(self, address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        host, port = address[0], int(address[1])
        refused: OSError = ConnectionRefusedError(f"nothing answers at {host}:{port}")
        for *_, sockaddr in self.getaddrinfo(host, port, 0, self._socket.SOCK_STREAM):
            ip = str(sockaddr[0])
            self.dialled.append((ip, port))
            if ip == PUBLIC_IP:
                if port in self.public_ports:
                    return self._real_create_connection(("127.0.0.1", port), *args, **kwargs)
                continue  # a remote host with nothing on that port
            try:
                return self._real_create_connection((ip, port), *args, **kwargs)
            except OSError as exc:
                refused = exc
        raise refused


class Servers:
    """The public host (serves audio, and a redirect to the rebinding name) and the internal victim."""

    def __init__(self) -> None:
        self.internal_requests: list[str] = []
        self.internal = FakeServer(self._internal)
        self.public = FakeServer(self._public)
        self.redirect_to = ""
        self.internal_audio = False

    def _internal(self, request: Request) -> Response:
        self.internal_requests.append(request.path)
        if self.internal_audio:  # a private host the operator allowed (DIARFLOW_ALLOW_PRIVATE_URLS)
            return Response(200, AUDIO, {"Content-Type": "audio/wav"})
        return Response(200, b"instance credentials", {"Content-Type": "text/plain"})

    def _public(self, request: Request) -> Response:
        if request.path == "/redirect.wav":
            return Response(302, headers={"Location": self.redirect_to})
        return Response(200, AUDIO, {"Content-Type": "audio/wav"})

    @property
    def internal_port(self) -> int:
        return int(self.internal.url.rsplit(":", 1)[1])

    @property
    def public_port(self) -> int:
        return int(self.public.url.rsplit(":", 1)[1])


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Internet, Servers]]:
    servers = Servers()
    with servers.internal, servers.public:
        internet = Internet(monkeypatch)
        internet.public_ports.add(servers.public_port)
        internet.names["cdn.example.com"] = lambda: [PUBLIC_IP]
        servers.redirect_to = f"http://rebind.example.com:{servers.internal_port}/latest/meta-data/"
        yield internet, servers


# --- every download path, against a name that rebinds after k answers -----------------------------


def fetch_directly(url: str, tmp_path: Path) -> None:
    with local_audio_path(url, UrlPolicy()) as path:
        path.read_bytes()


def sample_episode(tmp_path: Path, episode_id: str) -> tuple[Workspace, StoredRef]:
    """A workspace on a local store holding the sample's transcript, and where it is."""
    ws = Workspace(store=LocalStore(tmp_path / "store"), settings=Settings.from_env({}))
    key = ingest_transcript(ws, episode_id, SAMPLE_TRANSCRIPT)
    return ws, StoredRef(key=key, digest=ws.read_transcript(key)[1])


def local_diarizer_step(url: str, tmp_path: Path) -> None:
    ws, transcript = sample_episode(tmp_path, "DNS1")
    stages.diarize("local", ws, DiarizeArgs(episode_id="DNS1", transcript=transcript, audio=url))


def identification_step(url: str, tmp_path: Path, settings: Settings | None = None) -> None:
    ws, transcript = sample_episode(tmp_path, "DNS2")
    ws.settings = settings or ws.settings
    diarization = stages.diarize("deepgram", ws, DiarizeArgs(episode_id="DNS2", transcript=transcript))
    VoiceprintRegistry(ws.store).add(
        VoiceprintEntry(
            voiceprint_id="diane",
            podcast_id="show",
            display_name="Diane",
            model=LOCAL_VOICEPRINT_MODEL,
            embedding=[1.0] + [0.0] * 191,
            source=VoiceprintSource(audio="diane.wav"),
            created_at=utc_now(),
        )
    )
    info = stages.identify_speakers(
        ws, IdentifyArgs(episode_id="DNS2", diarization=diarization.ref, podcast_id="show", audio=url)
    )
    # Identification degrades instead of failing (the run goes on, partial): the refusal is in its result.
    if info.error is not None:
        raise Refused(info.error.type)


def enrolment(url: str, tmp_path: Path, settings: Settings | None = None) -> None:
    registry = VoiceprintRegistry(LocalStore(tmp_path / "store"))
    settings = settings or Settings.from_env({})
    enroll_voice(registry, settings, podcast_id="show", name="Diane", audio=url, start=10.78, end=14.18)


class Refused(Exception):
    """A refusal a path reported in its result rather than raised (identification degrades)."""

    def __init__(self, type_name: str) -> None:
        super().__init__(type_name)
        self.type_name = type_name


def refusal(path: Callable[[str, Path], None], url: str, tmp_path: Path) -> str | None:
    """The type of the error that stopped ``path`` fetching ``url``; None if it was not stopped."""
    try:
        path(url, tmp_path)
    except (InvalidUrl, AudioError, Refused) as exc:
        return exc.type_name
    return None


PATHS: dict[str, Callable[[str, Path], None]] = {
    "download": fetch_directly,
    "local diarizer step": local_diarizer_step,
    "identification step": identification_step,
    "enrolment": enrolment,
}
needs_models = pytest.mark.skipif(not local_diarizer_available(), reason="needs diarflow[local] and its models")


@pytest.mark.parametrize("public_answers", [1, 2, 3, 4])
@pytest.mark.parametrize(
    ("path", "via_redirect"),
    [
        ("download", False),
        ("download", True),
        pytest.param("local diarizer step", False, marks=needs_models),
        pytest.param("identification step", False, marks=needs_models),
        pytest.param("enrolment", False, marks=needs_models),
    ],
)
def test_a_rebinding_name_never_reaches_loopback(
    world: tuple[Internet, Servers], tmp_path: Path, path: str, via_redirect: bool, public_answers: int
) -> None:
    internet, servers = world
    internet.rebinding("rebind.example.com", public_answers)
    if via_redirect:  # a public host that redirects to the rebinding name: the hop must be pinned too
        url = f"http://cdn.example.com:{servers.public_port}/redirect.wav"
    else:
        url = f"http://rebind.example.com:{servers.internal_port}/episode.wav"

    # Refused at the check (loopback seen) or unreachable (the checked public address has nothing there).
    stopped_by = refusal(PATHS[path], url, tmp_path)

    assert stopped_by in ("InvalidUrl", "AudioError")
    assert servers.internal_requests == []
    assert ("127.0.0.1", servers.internal_port) not in internet.dialled
    record(
        f"DNS rebinding: {path}{' via a redirect' if via_redirect else ''}, {public_answers} public answer(s) first",
        scenarios=1,
        result="no connection to loopback",
    )


# --- the pinned connection still works, and keeps the hostname for Host, SNI and the certificate ----


def test_a_public_name_is_fetched_from_the_address_checked(world: tuple[Internet, Servers], tmp_path: Path) -> None:
    internet, servers = world
    with local_audio_path(f"http://cdn.example.com:{servers.public_port}/episode.wav", UrlPolicy()) as path:
        assert path.read_bytes() == AUDIO
    assert internet.dialled == [(PUBLIC_IP, servers.public_port)]
    record("DNS rebinding: a public name is fetched from its checked address", scenarios=1, result="downloaded")


@needs_models
@pytest.mark.parametrize("path", [identification_step, enrolment], ids=["identification step", "enrolment"])
def test_the_private_url_setting_reaches_every_download(
    world: tuple[Internet, Servers], tmp_path: Path, path: Callable[..., None]
) -> None:
    """With DIARFLOW_ALLOW_PRIVATE_URLS, identification and enrolment download from a private host too.

    They checked the URL with the setting but downloaded with the strict default, so the download
    was refused (identification degraded, enrolment failed).
    """
    internet, servers = world
    internet.names["audio.internal.example"] = lambda: ["127.0.0.1"]
    url = f"http://audio.internal.example:{servers.internal_port}/episode.wav"
    servers.internal_audio = True
    path(url, tmp_path, Settings.from_env({}, allow_private_urls=True))  # raises (or degrades) if refused
    assert servers.internal_requests == ["/episode.wav"]
    record(f"private URL setting honoured by {path.__name__}", scenarios=1, result="downloaded")


class TlsAudioServer:
    """Serves the sample over HTTPS on 127.0.0.1 with a certificate for ``audio.example.com`` only."""

    def __init__(self, certificate: Path, key: Path) -> None:
        self.server_names: list[str | None] = []
        self.hosts: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hosts.append(self.headers.get("Host"))
                self.send_response(200)
                self.send_header("Content-Length", str(len(AUDIO)))
                self.end_headers()
                self.wfile.write(AUDIO)

            def log_message(self, format: str, *args: object) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)

        def remember_server_name(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
            outer.server_names.append(name)

        context.sni_callback = remember_server_name
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(cert),
            "-subj", "/CN=audio.example.com", "-addext", "subjectAltName=DNS:audio.example.com",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_https_keeps_the_hostname_for_host_sni_and_the_certificate(
    world: tuple[Internet, Servers], certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    internet, _ = world
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # trust the test's own authority (httpx reads it)
    # A name pinned to loopback, allowed only because the policy says so (DIARFLOW_ALLOW_PRIVATE_URLS).
    internet.names["audio.example.com"] = lambda: ["127.0.0.1"]
    internet.names["other.example.com"] = lambda: ["127.0.0.1"]
    allowed = UrlPolicy(allow_private=True)
    server = TlsAudioServer(*certificate)
    with serving(server.server):
        with local_audio_path(f"https://audio.example.com:{server.port}/episode.wav", allowed) as path:
            assert path.read_bytes() == AUDIO
        assert server.server_names == ["audio.example.com"]  # SNI: the hostname, not the address
        assert server.hosts == [f"audio.example.com:{server.port}"]
        assert internet.dialled == [("127.0.0.1", server.port)]
        # Same address, another name: the certificate is checked against the name, so this must fail.
        with (
            pytest.raises(AudioError, match="ConnectError"),
            local_audio_path(f"https://other.example.com:{server.port}/episode.wav", allowed),
        ):
            pass
    record("DNS rebinding: pinned https keeps Host, SNI and certificate checks", scenarios=2, result="as expected")


def test_s3_audio_urls_are_never_fetched_by_diarflow() -> None:
    """``s3://`` audio goes nowhere near a user-chosen host: the downloader refuses it outright."""
    with pytest.raises(AudioError, match="unsupported URL scheme"), local_audio_path("s3://bucket/episode.wav"):
        pass
    record("DNS rebinding: s3:// audio is never fetched", scenarios=1, result="refused before any I/O")
