"""Load check: ``diarflow serve`` in cloud mode under a bounded mix of honest and hostile traffic, on loopback.

What runs at once against one server process (uvicorn, one worker):

- health checks, one after another, each timed (the probe a load balancer sends);
- signed step requests, all at once (the executor: ``POST /api/inngest`` signed with the signing key);
- unsigned requests with large valid-JSON bodies (the attack of docs/reliability.md: parse before auth);
- forged requests: a fresh timestamp, a junk signature and the same large bodies;
- genuine signed requests with those large bodies (the SDK parses them: off the event loop?);
- slow clients that send their headers and one byte of body, then close.

Prints the health-check latency (p50, p99, max) while the mix runs, the answers each kind got, the
server's resident memory before and at its peak (VmHWM), and the bytes the server logged. Nothing
here is asserted by the test suite: figures for docs/reliability.md.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_service_load.py [--health N --signed N …]``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import hashlib
import hmac
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import jcs  # type: ignore[import-untyped]
from tests.inngest_helpers import InngestRecorder, ServeProcess, sign_request

from diarflow.contracts import TRANSCRIBED, keys

SIGNING_KEY = "signkey-test-" + "5a1e" * 16
APP = "diarflow"
FUNCTION = f"{APP}-diarize-episode"


def step_payload(episode_id: str) -> bytes:
    """An executor request for the first step of a run, as canonical JSON (what Inngest's executor sends)."""
    event = {"name": TRANSCRIBED, "data": {"episode_id": episode_id, "transcript_key": keys.transcript_key(episode_id)}}
    ctx = {"run_id": f"01RUN{episode_id}", "attempt": 0, "disable_immediate_execution": False, "stack": {"stack": []}}
    canonical: bytes = jcs.canonicalize({"event": event, "events": [event], "steps": {}, "ctx": ctx, "use_api": False})
    return canonical


def large_json(mib: float) -> bytes:
    """A valid, canonical JSON step request of about ``mib`` MiB: its event carries many small objects."""
    word = b'{"end":1.5,"speaker":0,"start":1.25,"word":"hello"},'
    words = b"[" + word * (int(mib * 1024 * 1024) // len(word)) + b'{"word":"end"}]'
    event = b'{"data":{"episode_id":"LARGE","padding":' + words + b'},"name":"' + TRANSCRIBED.encode() + b'"}'
    ctx = b'{"attempt":0,"disable_immediate_execution":false,"run_id":"01LARGE","stack":{"stack":[]}}'
    return b'{"ctx":' + ctx + b',"event":' + event + b',"events":[' + event + b'],"steps":{},"use_api":false}'


def sign_canonical(body: bytes, signing_key: str) -> str:
    """``X-Inngest-Signature`` of a body that is canonical JSON already, as Inngest's executor computes it."""
    at = int(time.time())
    mac = hmac.new(signing_key.split("-", 2)[2].encode(), body, hashlib.sha256)
    mac.update(str(at).encode())
    return f"t={at}&s={mac.hexdigest()}"


def vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def slow_client(port: int, path: str) -> str:
    """Headers that promise a megabyte, one byte of it, then a closed connection."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: 1048576\r\n\r\n{{".encode()
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    await writer.wait_closed()
    return "closed"


def health_checks(url: str, count: int, interval: float) -> tuple[collections.Counter[str], list[float]]:
    """``count`` health checks one after another: the answers and each one's latency in ms."""
    statuses: collections.Counter[str] = collections.Counter()
    latencies = []
    with httpx.Client(timeout=120.0) as http:
        for _ in range(count):
            began = time.perf_counter()
            try:
                statuses[str(http.get(url + "/healthz").status_code)] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
            latencies.append((time.perf_counter() - began) * 1000)
            time.sleep(interval)
    return statuses, latencies


async def run_mix(server: ServeProcess, args: argparse.Namespace) -> dict[str, Any]:
    url = server.url
    answers: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    body = large_json(args.large_mib)
    params = {"fnId": FUNCTION, "stepId": "step"}
    cloud = {"content-type": "application/json", "x-inngest-server-kind": "cloud"}
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=50)

    async with httpx.AsyncClient(timeout=120.0, limits=limits) as http:

        async def timed(kind: str, call: Callable[[], Awaitable[httpx.Response]]) -> None:
            try:
                response = await call()
                answers[kind][str(response.status_code)] += 1
            except httpx.HTTPError as exc:
                answers[kind][type(exc).__name__] += 1

        def signed_step(index: int) -> Callable[[], Awaitable[httpx.Response]]:
            payload = step_payload(f"LOAD{index}")
            headers = {**cloud, "x-inngest-signature": sign_request(payload, SIGNING_KEY)}
            return lambda: http.post(url + "/api/inngest", params=params, content=payload, headers=headers)

        # Signed once, up front: the body is canonical already, so its HMAC is over its bytes as sent.
        large_signature = sign_canonical(body, SIGNING_KEY)

        def signed_large() -> Awaitable[httpx.Response]:
            headers = {**cloud, "x-inngest-signature": large_signature}
            return http.post(url + "/api/inngest", params=params, content=body, headers=headers)

        def forged() -> Awaitable[httpx.Response]:
            headers = {**cloud, "x-inngest-signature": f"t={int(time.time())}&s={'0' * 64}"}
            return http.post(url + "/api/inngest", params=params, content=body, headers=headers)

        async def slow(index: int) -> None:
            path = "/api/inngest?fnId=x&stepId=step" if index % 2 else "/webhooks/pyannote"
            answers["slow client"][await slow_client(server.port, path)] += 1

        began = time.perf_counter()
        attack = [
            *(timed("signed step", signed_step(i)) for i in range(args.signed)),
            *(
                timed("unsigned large", lambda: http.post(url + "/api/inngest", params=params, content=body))
                for _ in range(args.unsigned)
            ),
            *(timed("forged large", forged) for _ in range(args.forged)),
            *(timed("signed large", signed_large) for _ in range(args.signed_large)),
            *(slow(i) for i in range(args.slow)),
        ]
        # Health checks come from their own process, so that the figures are the server's, not this loop's.
        with concurrent.futures.ProcessPoolExecutor(max_workers=1) as pool:
            probe = asyncio.get_running_loop().run_in_executor(
                pool, health_checks, url, args.health, args.health_interval
            )
            results = await asyncio.gather(probe, *attack)
        statuses, latencies = results[0]
        answers["health"].update(statuses)
        seconds = time.perf_counter() - began
    return {"answers": answers, "latencies": latencies, "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--health", type=int, default=500, help="health checks, one after another")
    parser.add_argument("--health-interval", type=float, default=0.01, help="seconds between health checks")
    parser.add_argument("--signed", type=int, default=50, help="concurrent signed step requests")
    parser.add_argument("--unsigned", type=int, default=20, help="unsigned requests with large bodies")
    parser.add_argument("--forged", type=int, default=20, help="wrongly signed requests with large bodies")
    parser.add_argument("--signed-large", type=int, default=0, help="genuine signed requests with large bodies")
    parser.add_argument("--large-mib", type=float, default=20.0, help="size of each large body")
    parser.add_argument("--slow", type=int, default=100, help="clients that send one byte of body and close")
    args = parser.parse_args()

    sample = resources.files("diarflow.samples").joinpath("sample.deepgram.json").read_bytes()
    with tempfile.TemporaryDirectory(prefix="bench-service-") as directory:
        root = Path(directory)
        store = root / "store"
        for index in range(args.signed):
            target = store / keys.transcript_key(f"LOAD{index}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(sample)
        with InngestRecorder() as recorder:
            env = {
                "DIARFLOW_STORE": str(store),
                "DIARFLOW_DIARIZER": "deepgram",
                "INNGEST_SIGNING_KEY": SIGNING_KEY,
                "INNGEST_EVENT_KEY": "event-key-bench",
                "INNGEST_BASE_URL": recorder.url,
            }
            with ServeProcess(env, root) as server:
                assert server._process is not None
                pid = server._process.pid
                idle_kib = vm_kib(pid, "VmRSS")
                log_before = server.log_path.stat().st_size
                figures = asyncio.run(run_mix(server, args))
                peak_kib = vm_kib(pid, "VmHWM")
                log_bytes = server.log_path.stat().st_size - log_before

    latencies = sorted(figures["latencies"])
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"mix: {args.health} health checks, {args.signed} signed steps, {args.unsigned} unsigned and "
        f"{args.forged} forged and {args.signed_large} signed {args.large_mib:g} MiB bodies, {args.slow} slow clients "
        f"({figures['seconds']:.1f} s)"
    )
    for kind, counter in figures["answers"].items():
        print(f"  {kind:15s} {dict(sorted(counter.items()))}")
    print(
        f"health latency ms: p50 {statistics.median(latencies):.1f}  p99 {p99:.1f}  max {latencies[-1]:.1f}"
        f"  (n={len(latencies)})"
    )
    print(f"server RSS: idle {idle_kib / 1024:.0f} MB, peak {peak_kib / 1024:.0f} MB")
    print(f"server log: {log_bytes:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
