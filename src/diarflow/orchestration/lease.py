"""Run leases: at most one local run of an episode at a time, across processes and machines.

Two runs of the same episode writing the same keys could leave artifacts from
different runs side by side (an enriched transcript computed from one
diarization next to the audit of another). The local runner therefore takes a
*lease* ``runs/<episode_id>/lease.json`` around a run:

* **acquire** with the store's ``create_if_absent`` (``link()`` locally,
  ``IfNoneMatch='*'`` on S3): of two runs racing, exactly one creates it;
* a second run **waits** up to ``DIARFLOW_LEASE_WAIT`` seconds (default 0) and
  then stops with :class:`EpisodeBusy` — "episode X is being processed by …
  until …" — before touching any artifact;
* the holder **renews** the lease from a background thread every third of its
  TTL (``DIARFLOW_LEASE_SECONDS``) and checks it before each step (fencing):
  a run whose lease was taken over stops with :class:`LeaseLost`;
* a **stale** lease is taken over: one whose holder's process is gone (same
  host, same pid namespace: checked at once, so a rerun after a crash does
  not wait), or one more than a quarter of its TTL past its expiry (the
  margin absorbs clock skew between machines). Only the contender that
  creates the takeover marker ``runs/<id>/lease.takeover-<token>.json`` may
  delete the stale lease, so two contenders never both take it over;
* **release** deletes the lease if it is still ours.

Limits (the usual ones of leases without compare-and-swap on every write):
a holder that stalls longer than its TTL without renewing (a frozen VM) may
overlap with a taker; clocks must agree within a quarter of the TTL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, NoReturn

import orjson

from diarflow.adapters.processes import host_identity, process_alive, process_start
from diarflow.adapters.stores import ObjectStore, dump_json
from diarflow.contracts import keys
from diarflow.errors import ArtifactNotFound, DiarflowError, EpisodeBusy, LeaseLost, StorageError
from diarflow.orchestration.steps import ArgsT, Event, ResultT, Step, Steps
from diarflow.orchestration.workspace import Workspace, digest

log = logging.getLogger(__name__)

LEASE_VERSION = 1
DEFAULT_TTL_SECONDS = 60.0
TAKEOVER_MARGIN = 0.25
"""A lease is stale this fraction of its TTL after it expired (clock-skew allowance between machines)."""
_POLL_SECONDS = 0.5
_MAX_CREATE_ROUNDS = 1000  # a create/read ping-pong this long means a broken store, not contention


# --- the lease record ------------------------------------------------------------------


@dataclass(frozen=True)
class LeaseRecord:
    """What ``lease.json`` holds: who has the episode, and until when."""

    episode_id: str
    token: str
    """Random per acquisition: renewals and release act only on our own lease."""
    holder: str
    """``host/pid``, for messages."""
    host: str
    """Hostname + boot id + pid namespace: same value means the pid below can be checked here."""
    pid: int
    pid_started: str | None
    """The process's start time (Linux), so a reused pid is not mistaken for the holder."""
    acquired_at: str
    expires_at: float
    ttl_seconds: float

    def to_json(self) -> bytes:
        return dump_json(
            {
                "schema_version": LEASE_VERSION,
                "episode_id": self.episode_id,
                "token": self.token,
                "holder": self.holder,
                "host": self.host,
                "pid": self.pid,
                "pid_started": self.pid_started,
                "acquired_at": self.acquired_at,
                "expires_at": _iso(self.expires_at),
                "ttl_seconds": self.ttl_seconds,
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> LeaseRecord | None:
        """The record, or None when the object is not a lease we can read (treated as stale)."""
        try:
            raw = orjson.loads(data)
            pid, ttl = raw["pid"], raw["ttl_seconds"]
            # Exact types, never str()/int()/float() of whatever is there: a nested array would recurse in
            # repr, a huge integer overflow a float or os.kill's pid.
            if type(pid) is not int or not 0 < pid < _MAX_PID or type(ttl) not in (int, float):
                return None
            if not 0 < ttl <= _MAX_TTL_SECONDS:
                return None
            pid_started = raw.get("pid_started")
            return cls(
                episode_id=_text(raw, "episode_id"),
                token=_text(raw, "token"),
                holder=_text(raw, "holder"),
                host=_text(raw, "host"),
                pid=pid,
                pid_started=None if pid_started is None else _text(raw, "pid_started"),
                acquired_at=_text(raw, "acquired_at"),
                expires_at=datetime.fromisoformat(_text(raw, "expires_at")).timestamp(),
                ttl_seconds=float(ttl),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    def stale_at(self) -> float:
        """When another machine may take the lease over."""
        return self.expires_at + TAKEOVER_MARGIN * self.ttl_seconds


_MAX_PID = 2**31
"""pids fit a C int (Linux allows at most 2**22): a larger one in a lease is not a process."""
_MAX_TTL_SECONDS = 24 * 3600.0
"""The longest DIARFLOW_LEASE_SECONDS allows: a longer one would keep the episode from ever going stale."""


def _text(raw: dict[str, Any], name: str) -> str:
    """A string field of a lease record; anything else makes the record unreadable (``TypeError``)."""
    value = raw[name]
    if type(value) is not str:
        raise TypeError(f"{name} is not a string")
    return value


# --- the lease ---------------------------------------------------------------------------


class RunLease:
    """The lease on one episode; use as a context manager around a run.

    ``clock`` and ``sleep`` are injectable so tests can drive expiry without waiting.
    """

    def __init__(
        self,
        store: ObjectStore,
        episode_id: str,
        *,
        ttl: float = DEFAULT_TTL_SECONDS,
        wait: float = 0.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        heartbeat: bool = True,
        poll: float = _POLL_SECONDS,
    ) -> None:
        self.key = keys.checkpoints_prefix(episode_id) + "lease.json"  # validates the id before any I/O
        self.store = store
        self.episode_id = episode_id
        self.ttl = max(0.5, float(ttl))
        self.wait = max(0.0, float(wait))
        self.clock = clock
        self.sleep = sleep
        self.heartbeat = heartbeat
        self.poll = poll
        self.record: LeaseRecord | None = None
        self.takeovers = 0
        """Stale leases this lease replaced (a crashed run's, or an expired one)."""
        self._lost: DiarflowError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- context manager --

    def __enter__(self) -> RunLease:
        self.acquire()
        if self.heartbeat:
            self._thread = threading.Thread(target=self._renew_loop, name=f"lease-{self.episode_id}", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self.release()
        except DiarflowError as error:
            # The run's own outcome matters more; a lease left behind expires (or is seen as ours-and-dead).
            log.warning("could not release the lease %s: %s", self.key, error.message)

    # -- operations --

    def acquire(self) -> LeaseRecord:
        """Take the lease, waiting up to ``wait`` seconds; raise :class:`EpisodeBusy` if another run keeps it."""
        deadline = self.clock() + self.wait
        for _ in range(_MAX_CREATE_ROUNDS):
            record = self._new_record()
            if self.store.create_if_absent(self.key, record.to_json(), content_type="application/json"):
                self.record = record
                log.info("lease %s taken until %s", self.key, _iso(record.expires_at))
                return record
            current, raw = self._read()
            if raw is None:
                continue  # released between our create and our read: try again at once
            if current is None or self._is_stale(current):
                self._take_over(current, raw)
                continue
            now = self.clock()
            if now >= deadline:
                raise EpisodeBusy(self.episode_id, current.holder, _iso(current.expires_at))
            self.sleep(min(self.poll, deadline - now, max(0.0, current.stale_at() - now)) or 0.01)
        raise StorageError(f"could not take the lease {self.key} in {self.store.url}: it keeps changing", key=self.key)

    def renew(self) -> None:
        """Push the expiry out by one TTL; raise :class:`LeaseLost` if the lease is no longer ours."""
        mine = self._held()
        current, _ = self._read()
        now = self.clock()
        if current is None or current.token != mine.token:
            self._lose(f"the lease {self.key} was taken over by {current.holder if current else 'another run'}")
        if now > mine.expires_at:
            self._lose(f"the lease {self.key} expired at {_iso(mine.expires_at)} before it could be renewed")
        renewed = replace(mine, expires_at=now + self.ttl)
        self.store.put_bytes(self.key, renewed.to_json(), content_type="application/json")
        self.record = renewed

    def check(self) -> None:
        """Fencing before a step: raise :class:`LeaseLost` if the lease was lost or has run out."""
        mine = self._held()
        if self._lost is not None:
            raise self._lost
        if self.clock() > mine.expires_at:
            self._lose(f"the lease {self.key} expired at {_iso(mine.expires_at)} (renewals failed)")

    def release(self) -> None:
        """Delete the lease if it is still ours (never someone else's)."""
        if self.record is None:
            return
        mine, self.record = self.record, None
        current, _ = self._read()
        if current is not None and current.token == mine.token:
            self.store.delete(self.key)
            log.info("lease %s released", self.key)

    # -- internals --

    def _held(self) -> LeaseRecord:
        if self.record is None:
            raise LeaseLost(f"the lease {self.key} is not held by this run")
        return self.record

    def _lose(self, message: str) -> NoReturn:
        self._lost = LeaseLost(f"{message}; this run stopped so that only one run writes episode {self.episode_id}")
        raise self._lost

    def _new_record(self) -> LeaseRecord:
        now = self.clock()
        return LeaseRecord(
            episode_id=self.episode_id,
            token=secrets.token_hex(16),
            holder=f"{socket.gethostname()}/pid {os.getpid()}",
            host=host_identity(),
            pid=os.getpid(),
            pid_started=process_start(os.getpid()),
            acquired_at=_iso(now),
            expires_at=now + self.ttl,
            ttl_seconds=self.ttl,
        )

    def _read(self) -> tuple[LeaseRecord | None, bytes | None]:
        try:
            raw = self.store.get_bytes(self.key)
        except ArtifactNotFound:
            return None, None
        return LeaseRecord.from_json(raw), raw

    def _is_stale(self, record: LeaseRecord) -> bool:
        if self.clock() > record.stale_at():
            return True
        # Same machine and pid namespace: a holder that no longer runs cannot renew; do not make the rerun wait.
        return record.host == host_identity() and not process_alive(record.pid, record.pid_started)

    def _take_over(self, stale: LeaseRecord | None, raw: bytes) -> None:
        """Delete a stale lease; the takeover marker makes sure only one contender does it."""
        token = stale.token if stale is not None else digest(raw)
        marker = f"{keys.checkpoints_prefix(self.episode_id)}lease.takeover-{token}.json"
        if not self.store.create_if_absent(marker, self._new_record().to_json(), content_type="application/json"):
            # Another contender is taking it over (its new lease shows on our next read), unless it died
            # halfway: a stale marker is removed so that the takeover can happen at all.
            with contextlib.suppress(ArtifactNotFound):
                holder = LeaseRecord.from_json(self.store.get_bytes(marker))
                if holder is None or self._is_stale(holder):
                    self.store.delete(marker)
            self.sleep(0.05)
            return
        try:
            _, again = self._read()
            if again == raw:  # still the stale lease we judged, not one taken since
                self.store.delete(self.key)
                self.takeovers += 1
                who = stale.holder if stale is not None else "an unreadable lease"
                log.warning("lease %s: took over the stale lease of %s", self.key, who)
        finally:
            self.store.delete(marker)

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.renew()
            except LeaseLost as exc:
                log.error("%s", exc.message)
                return
            except DiarflowError as exc:
                # A flaky store: keep trying; check() stops the run once the lease has really run out.
                log.warning("could not renew the lease %s: %s", self.key, exc.message)


class LeasedSteps:
    """Steps that check the lease before each step, so a run that lost its lease writes nothing more."""

    def __init__(self, steps: Steps, lease: RunLease) -> None:
        self._steps = steps
        self._lease = lease

    def run(self, step: Step[ArgsT, ResultT], ws: Workspace, args: ArgsT) -> ResultT:
        self._lease.check()
        return self._steps.run(step, ws, args)

    def sleep(self, name: str, seconds: float) -> None:
        self._lease.check()
        self._steps.sleep(name, seconds)

    def send_event(self, name: str, events: list[Event]) -> None:
        self._lease.check()
        self._steps.send_event(name, events)

    def wait_for_event(self, name: str, *, event: str, if_expression: str, timeout_seconds: float) -> Event | None:
        self._lease.check()
        return self._steps.wait_for_event(
            name, event=event, if_expression=if_expression, timeout_seconds=timeout_seconds
        )


@contextlib.contextmanager
def held(lease: RunLease | None) -> Iterator[RunLease | None]:
    """``with held(lease)``: enter the lease if there is one (None: the caller holds it already)."""
    if lease is None:
        yield None
        return
    with lease:
        yield lease


# --- helpers ----------------------------------------------------------------------------------


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
