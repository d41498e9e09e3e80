"""Shared helpers of the reliability suite (``tests/test_reliability_*.py``, docs/reliability.md).

* :func:`record` notes the figures of a guarantee (scenarios, generated cases,
  measurements); with ``DIARFLOW_RELIABILITY_FIGURES=<file>`` set they are
  appended there as JSON lines, which is how docs/reliability.md's tables
  were filled in.
* :func:`diarflow_cli` / :func:`spawn_cli` run ``python -m diarflow`` as a user
  does, with a clean environment.
* :func:`artifacts` snapshots every artifact of a store with the volatile
  fields (``created_at``) removed, so two runs can be compared.
* :class:`RestartableSeaweedFS` can be killed and restarted over its own
  data, on the same ports.
* :func:`tmpfs` mounts a tiny tmpfs (disk full, read-only) and always unmounts it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from diarflow.adapters.stores import ObjectStore
from tests.seaweedfs import S3Endpoint, SeaweedFS

FIGURES_ENV = "DIARFLOW_RELIABILITY_FIGURES"
#: Fields that differ between two runs of the same inputs by design (wall-clock timestamps).
VOLATILE_FIELDS = frozenset({"created_at", "occurred_at"})
#: Prefixes compared between runs: the artifacts and the stored inputs (not checkpoints or leases).
ARTIFACT_PREFIXES = ("transcripts/", "diarization/")
_TIMESTAMP = re.compile(rb"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z| UTC)?")


def record(guarantee: str, **figures: Any) -> None:
    """Note the figures of one test (e.g. ``scenarios=12, cases=3000``) for docs/reliability.md."""
    target = os.environ.get(FIGURES_ENV)
    if not target:
        return
    line = json.dumps({"guarantee": guarantee, **figures}, sort_keys=True, default=str)
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


# --- the command line as a user runs it ------------------------------------------------


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without diarflow/API settings, plus ``extra``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DIARFLOW_", "PYANNOTEAI_", "DEEPGRAM_"))}
    environment.update(extra or {})
    return environment


def diarflow_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "diarflow", *args], capture_output=True, text=True, env=cli_env(env), timeout=timeout
    )


def run_args(episode_id: str, transcript: Path, store: str | Path, *extra: str) -> list[str]:
    """Arguments of a transcript-only ``diarflow run`` (the Deepgram fallback: no audio, no keys)."""
    return [
        "run",
        "--episode-id",
        episode_id,
        "--transcript",
        str(transcript),
        "--store",
        str(store),
        "--diarizer",
        "deepgram",
        *extra,
    ]


def spawn_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "diarflow", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(env),
    )


def wait_for(condition: Callable[[], bool], *, timeout: float, interval: float = 0.002) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def sigkill(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)


# --- comparing the artifacts of two runs -----------------------------------------------


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE_FIELDS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def artifacts(store: ObjectStore, prefixes: tuple[str, ...] = ARTIFACT_PREFIXES) -> dict[str, Any]:
    """Every object under ``prefixes``: parsed JSON without volatile fields, HTML without timestamps, else bytes.

    Parsing also proves no object is half-written: a truncated JSON object fails here.
    """
    snapshot: dict[str, Any] = {}
    for prefix in prefixes:
        for key in store.list(prefix):
            data = store.get_bytes(key)
            if key.endswith(".json"):
                snapshot[key] = _strip(orjson.loads(data))
            elif key.endswith(".html"):  # the report shows the artifacts' creation time, to the minute
                snapshot[key] = _TIMESTAMP.sub(b"<timestamp>", data)
            else:
                snapshot[key] = data
    return snapshot


# --- a SeaweedFS that survives being killed --------------------------------------------


class RestartableSeaweedFS(SeaweedFS):
    """A dedicated server that can be SIGKILLed and restarted over the same data directory and ports."""

    def kill(self) -> None:
        """SIGKILL the server (no clean shutdown), keeping its data and ports for :meth:`restart`."""
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        self._remove_sockets()

    def restart(self, *, probe: tuple[str, str] | None = None, timeout: float = 60.0) -> S3Endpoint:
        """Start again over the existing data; ready when the probe object (bucket, key) reads back."""
        self._spawn("restart")  # same data directory and ports: the data must survive
        self.wait_ready()
        if probe is not None:
            # After a restart, reads of existing objects fail for a few seconds ("volume id not found").
            client = self.endpoint.client(connect_timeout=1, read_timeout=5, attempts=1)
            bucket, key = probe

            def readable() -> bool:
                try:
                    client.get_object(Bucket=bucket, Key=key)["Body"].read()
                except Exception:  # any failure means "not yet"
                    return False
                return True

            if not wait_for(readable, timeout=timeout, interval=0.2):
                raise AssertionError(f"SeaweedFS did not serve {bucket}/{key} within {timeout} s of a restart")
        return self.endpoint


# --- tiny file systems -------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` (e.g. ``"1m"``) at ``path``; fails loudly if mounting is impossible."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        raise AssertionError(
            f"cannot mount a tmpfs at {path} ({done.stderr.decode().strip()}): the disk-full and read-only "
            "tests need root (or CAP_SYS_ADMIN); they fail rather than skip so the guarantee is never unproven"
        )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def remount(path: Path, options: str) -> None:
    """``mount -o remount,<options>`` (``ro``, ``rw``, ``size=64m``…)."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True, capture_output=True)
