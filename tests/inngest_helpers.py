"""Standing in for an Inngest server: a recording event/registration API, the executor's HTTP protocol,
and ``diarflow serve`` in a subprocess.

No Inngest server can run in the test environment, so the service is tested
the way the executor talks to it: ``PUT /api/inngest`` (the app registers
itself with ``POST {INNGEST_DEV}/fn/register``), then one ``POST`` per step,
with the memoised step results sent back each time, until the function
answers 200.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jcs  # type: ignore[import-untyped]  # RFC 8785 canonical JSON, as Inngest signs it
import orjson

from tests.fakes.server import FakeServer, Request, Response

# --- the Inngest API: registration and events ---------------------------------------------------


class InngestRecorder:
    """Records what the SDK sends to Inngest: app registrations (``/fn/register``) and events (``/e/<key>``)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = FakeServer(self._handle)
        self._ids = 0

    def __enter__(self) -> InngestRecorder:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()

    @property
    def url(self) -> str:
        return self._server.url

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
            if request.method == "POST" and request.path == "/fn/register":
                return Response.json({"ok": True, "modified": True})
            if request.method == "POST" and request.path.startswith("/e/"):
                events = request.json()
                ids = [f"evt-{self._ids + i}" for i in range(len(events))]
                self._ids += len(events)
                return Response.json({"ids": ids, "status": 200})
        return Response.json({"error": f"unexpected {request.method} {request.path}"}, 404)

    def registrations(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.requests if r.path == "/fn/register"]

    def event_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.startswith("/e/")]

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every event received, in order (optionally only those named ``name``)."""
        sent = [event for r in self.event_requests() for event in r.json()]
        return [e for e in sent if name is None or e["name"] == name]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()


# --- diarflow serve in a subprocess -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


_INHERITED_PREFIXES = ("INNGEST_", "DIARFLOW_", "AWS_", "PYANNOTEAI_", "DEEPGRAM_")


class ServeProcess:
    """``diarflow serve`` on a free loopback port, with exactly the settings given (no leakage from the shell)."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, ready_timeout: float = 30.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
        self.env = {**base, "DIARFLOW_LOG_LEVEL": "WARNING", **env}
        self.log_path = log_dir / f"serve-{self.port}.log"
        self.ready_timeout = ready_timeout
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServeProcess:
        script = Path(sys.executable).with_name("diarflow")
        command = [str(script)] if script.exists() else [sys.executable, "-c", "from diarflow.cli import main; main()"]
        command += ["serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"diarflow serve exited ({self._process.returncode}):\n{self.log()}")
            try:
                httpx.get(self.url + "/healthz", timeout=1.0)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"diarflow serve did not answer in {self.ready_timeout:.0f} s:\n{self.log()}")

    def __exit__(self, *exc: object) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


# --- the executor -------------------------------------------------------------------------------


def sign_request(body: bytes, signing_key: str, at: int | None = None) -> str:
    """``X-Inngest-Signature`` as Inngest signs requests: HMAC-SHA256 of the canonical JSON body + time."""
    key = signing_key.split("-", 2)[2] if signing_key.startswith("signkey-") else signing_key
    at = int(time.time()) if at is None else at
    canonical = jcs.canonicalize(orjson.loads(body)) if body else b""  # the SDK signs an empty body as is
    mac = hmac.new(key.encode(), canonical, hashlib.sha256)
    mac.update(str(at).encode())
    return f"t={at}&s={mac.hexdigest()}"


@dataclass
class Call:
    """One executor request and the SDK's answer."""

    status: int
    headers: dict[str, str]
    body: Any
    raw: bytes = b""
    """The body as sent (a signed answer's signature covers these bytes)."""


@dataclass
class RunResult:
    status: str
    """``completed`` (200), ``failed`` (the function errored for good)."""
    output: Any
    calls: list[Call] = field(default_factory=list)
    ops: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def op_names(self, op: str | None = None) -> list[str]:
        return [o["displayName"] for o in self.ops if op is None or o["op"] == op]

    def largest_op_data(self) -> int:
        """Bytes of the largest piece of step data the executor had to store."""
        return max((len(orjson.dumps(o.get("data"))) for o in self.ops), default=0)


WaitResolver = Callable[[dict[str, Any]], Any]


class Executor:
    """Drives one function run over HTTP as Inngest's executor does (sequential steps, one per request)."""

    def __init__(self, serve_url: str, app_id: str = "diarflow", *, signing_key: str | None = None) -> None:
        self.serve_url = serve_url.rstrip("/") + "/api/inngest"
        self.app_id = app_id
        self.signing_key = signing_key
        self.http = httpx.Client(timeout=60.0)

    def post(self, function: str, payload: dict[str, Any], *, step_id: str = "step", signed: bool = True) -> Call:
        body: bytes = jcs.canonicalize(payload)  # Inngest's executor sends (and signs) canonical JSON
        headers = {"content-type": "application/json", "x-inngest-server-kind": "cloud" if self.signing_key else "dev"}
        if self.signing_key and signed:
            headers["x-inngest-signature"] = sign_request(body, self.signing_key)
        response = self.http.post(
            self.serve_url,
            params={"fnId": f"{self.app_id}-{function}", "stepId": step_id},
            content=body,
            headers=headers,
        )
        try:
            parsed = response.json()
        except ValueError:
            parsed = response.text
        return Call(response.status_code, {k.lower(): v for k, v in response.headers.items()}, parsed, response.content)

    def run(
        self,
        function: str,
        event: dict[str, Any],
        *,
        max_attempts: int = 5,
        on_wait: WaitResolver | None = None,
        max_calls: int = 500,
    ) -> RunResult:
        """Call until the function returns (200) or fails for good; retries errored steps like Inngest."""
        event = {"id": "01EVENT", "ts": int(time.time() * 1000), "data": {}, **event}
        steps: dict[str, Any] = {}
        stack: list[str] = []
        attempt = 0
        began = time.perf_counter()
        result = RunResult(status="running", output=None)
        for _ in range(max_calls):
            payload = {
                "event": event,
                "events": [event],
                "steps": steps,
                "ctx": {
                    "run_id": "01RUN",
                    "attempt": attempt,
                    "max_attempts": max_attempts,
                    "disable_immediate_execution": False,
                    "use_api": False,
                    "stack": {"stack": list(stack)},
                },
                "use_api": False,
            }
            call = self.post(function, payload)
            result.calls.append(call)
            if call.status == 200:
                result.status, result.output = "completed", call.body
                break
            if call.status == 206:
                no_retry = call.headers.get("x-inngest-no-retry") == "true"
                for op in call.body:
                    result.ops.append(op)
                    kind = op["op"]
                    if kind == "StepRun":
                        steps[op["id"]] = {"data": op.get("data")}
                    elif kind in ("StepFailed",) or (kind == "StepError" and (no_retry or attempt + 1 >= max_attempts)):
                        steps[op["id"]] = {"error": op["error"]}
                    elif kind == "StepError":
                        attempt += 1  # the executor retries the same step (with backoff we skip here)
                        continue
                    elif kind == "Sleep":
                        steps[op["id"]] = None
                    elif kind == "WaitForEvent":
                        steps[op["id"]] = on_wait(op) if on_wait else None
                    else:
                        raise AssertionError(f"unexpected op {kind}: {op}")
                    stack.append(op["id"])
                    attempt = 0
                continue
            # A function-level error: retried like a step unless the SDK said not to.
            if call.headers.get("x-inngest-no-retry") == "true" or attempt + 1 >= max_attempts:
                result.status, result.output = "failed", call.body
                break
            attempt += 1
        else:
            raise AssertionError(f"no result after {max_calls} calls")
        result.seconds = time.perf_counter() - began
        return result


def failure_event(app_id: str, function: str, original: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    """The ``inngest/function.failed`` event Inngest sends to a function's on_failure handler."""
    return {
        "name": "inngest/function.failed",
        "data": {"function_id": f"{app_id}-{function}", "run_id": "01RUN", "error": error, "event": original},
    }
