"""The run lease (``runs/<id>/lease.json``): one run of an episode at a time, on every store.

Unit behaviour with a fake clock, then real contention: threads and separate
processes hammering one lease, checking that no two ever hold it at once.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from diarflow.adapters.processes import host_identity
from diarflow.adapters.stores import ObjectStore, open_store
from diarflow.contracts.step_args import ReportArgs
from diarflow.errors import StorageError
from diarflow.orchestration import Workspace, stages
from diarflow.orchestration.lease import (
    EpisodeBusy,
    LeasedSteps,
    LeaseLost,
    LeaseRecord,
    RunLease,
    _iso,
)
from diarflow.orchestration.steps import ArgsT, ResultT, Step
from tests.reliability import record

KEY = "runs/EP1/lease.json"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def foreign_lease(
    store: ObjectStore, *, expires_at: float, host: str = "other-host|boot|pid:[1]", pid: int = 4242
) -> bytes:
    """A lease written by a run elsewhere."""
    data = LeaseRecord(
        episode_id="EP1",
        token="f" * 32,
        holder=f"{host.split('|')[0]}/pid {pid}",
        host=host,
        pid=pid,
        pid_started=None,
        acquired_at=_iso(expires_at - 60),
        expires_at=expires_at,
        ttl_seconds=60.0,
    ).to_json()
    assert store.create_if_absent(KEY, data)
    return data


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_lease_is_held_during_the_run_and_released_after(store: ObjectStore) -> None:
    with RunLease(store, "EP1") as lease:
        assert lease.record is not None
        held = orjson.loads(store.get_bytes(KEY))
        assert held["token"] == lease.record.token
        assert held["pid"] == os.getpid()
    assert not store.exists(KEY)


def test_a_second_run_stops_at_once_with_a_message_naming_holder_and_expiry(store: ObjectStore) -> None:
    clock = FakeClock()
    with RunLease(store, "EP1", clock=clock, heartbeat=False) as first:
        assert first.record is not None
        expires = first.record.expires_at
        with pytest.raises(EpisodeBusy) as caught:
            RunLease(store, "EP1", clock=clock, sleep=clock.sleep).acquire()
    message = caught.value.message
    assert message.startswith("episode EP1 is being processed by ")
    assert f"pid {os.getpid()}" in message
    assert f"until {_iso(expires)}" in message
    assert "runs/EP1/lease.json" in message
    assert "DIARFLOW_LEASE_WAIT" in message
    assert caught.value.retryable


def test_a_waiting_run_gets_the_lease_when_the_first_one_releases_it(store: ObjectStore) -> None:
    first = RunLease(store, "EP1", heartbeat=False)
    first.acquire()
    threading.Timer(0.3, first.release).start()
    began = time.monotonic()
    with RunLease(store, "EP1", wait=30, poll=0.02) as second:
        assert second.record is not None
    assert 0.25 < time.monotonic() - began < 10


def test_an_expired_lease_from_another_machine_is_taken_over_only_after_the_margin(store: ObjectStore) -> None:
    clock = FakeClock()
    foreign_lease(store, expires_at=clock.now - 1)  # expired, but within the clock-skew margin (15 s of 60)
    with pytest.raises(EpisodeBusy):
        RunLease(store, "EP1", clock=clock, sleep=clock.sleep).acquire()
    clock.now += 16
    lease = RunLease(store, "EP1", clock=clock, sleep=clock.sleep, heartbeat=False)
    lease.acquire()
    assert lease.takeovers == 1
    assert orjson.loads(store.get_bytes(KEY))["pid"] == os.getpid()
    assert [k for k in store.list("runs/EP1/") if "takeover" in k] == []  # the marker is cleaned up


def test_a_lease_whose_holder_died_on_this_machine_is_taken_over_at_once(store: ObjectStore) -> None:
    clock = FakeClock()
    foreign_lease(store, expires_at=clock.now + 3600, host=host_identity(), pid=dead_pid())
    lease = RunLease(store, "EP1", clock=clock, heartbeat=False)
    lease.acquire()
    assert lease.takeovers == 1


def test_a_live_holder_on_this_machine_is_respected_even_with_a_reused_pid_check(store: ObjectStore) -> None:
    clock = FakeClock()
    foreign_lease(store, expires_at=clock.now + 3600, host=host_identity(), pid=os.getppid())
    with pytest.raises(EpisodeBusy):
        RunLease(store, "EP1", clock=clock).acquire()
    # Same pid, different start time: the pid was reused, the holder is gone.
    store.delete(KEY)
    data = orjson.loads(foreign_lease_bytes(clock.now + 3600, pid=os.getppid(), started="1"))
    store.create_if_absent(KEY, orjson.dumps(data))
    lease = RunLease(store, "EP1", clock=clock, heartbeat=False)
    lease.acquire()
    assert lease.takeovers == 1


def foreign_lease_bytes(expires_at: float, *, pid: int, started: str) -> bytes:
    return LeaseRecord(
        episode_id="EP1",
        token="e" * 32,
        holder=f"here/pid {pid}",
        host=host_identity(),
        pid=pid,
        pid_started=started,
        acquired_at=_iso(expires_at - 60),
        expires_at=expires_at,
        ttl_seconds=60.0,
    ).to_json()


def test_an_unreadable_lease_is_treated_as_stale(store: ObjectStore) -> None:
    store.put_bytes(KEY, b"{not json")
    lease = RunLease(store, "EP1", heartbeat=False)
    lease.acquire()
    assert lease.takeovers == 1


def test_a_takeover_marker_left_by_a_crashed_contender_does_not_block_forever(store: ObjectStore) -> None:
    clock = FakeClock()
    foreign_lease(store, expires_at=clock.now - 3600)
    marker = "runs/EP1/lease.takeover-" + "f" * 32 + ".json"
    store.put_bytes(marker, foreign_lease_bytes(clock.now + 3600, pid=dead_pid(), started="1"))
    lease = RunLease(store, "EP1", clock=clock, sleep=clock.sleep, heartbeat=False)
    lease.acquire()
    assert lease.takeovers == 1
    assert not store.exists(marker)


def test_renewal_extends_the_lease_and_a_taken_over_lease_fences_the_run(store: ObjectStore) -> None:
    clock = FakeClock()
    lease = RunLease(store, "EP1", ttl=60, clock=clock, sleep=clock.sleep, heartbeat=False)
    lease.acquire()
    clock.now += 30
    lease.renew()
    assert lease.record is not None
    assert orjson.loads(store.get_bytes(KEY))["expires_at"] == _iso(clock.now + 60)

    # Another run takes over (we stalled past expiry + margin): renewing and every later step must stop.
    clock.now += 60 + 16
    other = RunLease(store, "EP1", ttl=60, clock=clock, sleep=clock.sleep, heartbeat=False)
    other.acquire()
    with pytest.raises(LeaseLost):
        lease.renew()
    ran: list[str] = []
    steps = LeasedSteps(_RecordingSteps(ran), lease)
    with pytest.raises(LeaseLost):
        steps.run(stages.REPORT, Workspace(store=store), ReportArgs(episode_id="EP1", errors=[]))
    assert ran == []
    lease.release()  # must not delete the other run's lease
    assert orjson.loads(store.get_bytes(KEY))["token"] == other.record.token  # type: ignore[union-attr]


def test_a_lease_that_ran_out_fences_the_run_even_without_a_taker(store: ObjectStore) -> None:
    clock = FakeClock()
    lease = RunLease(store, "EP1", ttl=10, clock=clock, heartbeat=False)
    lease.acquire()
    clock.now += 11  # renewals failed (store down) for longer than the TTL
    with pytest.raises(LeaseLost, match="expired"):
        lease.check()


def test_the_heartbeat_keeps_a_long_run_alive(store: ObjectStore) -> None:
    with RunLease(store, "EP1", ttl=0.6) as lease:
        first = orjson.loads(store.get_bytes(KEY))["expires_at"]
        time.sleep(1.0)  # longer than the TTL: only renewals keep it
        lease.check()
        assert orjson.loads(store.get_bytes(KEY))["expires_at"] > first
        with pytest.raises(EpisodeBusy):
            RunLease(store, "EP1").acquire()


def test_the_episode_id_is_validated_before_any_io() -> None:
    class Exploding:
        url = "exploding://"

        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"I/O attempted: {name}")

    for bad in ("../x", "a/b", "", "x" * 1024, "Е1"):  # the last one starts with a Cyrillic E
        with pytest.raises(Exception, match="episode_id"):
            RunLease(Exploding(), bad)  # type: ignore[arg-type]


class _RecordingSteps:
    def __init__(self, ran: list[str]) -> None:
        self.ran = ran

    def run(self, step: Step[ArgsT, ResultT], ws: Workspace, args: ArgsT) -> ResultT:
        self.ran.append(step.name)
        raise AssertionError("a fenced run must not reach its engine")

    def sleep(self, name: str, seconds: float) -> None:
        self.ran.append(name)

    def send_event(self, name: str, events: list[dict[str, object]]) -> None:
        self.ran.append(name)

    def wait_for_event(self, name: str, **kwargs: object) -> None:
        self.ran.append(name)


# --- contention --------------------------------------------------------------------------


def test_threads_racing_for_a_stale_lease_produce_exactly_one_holder(store: ObjectStore) -> None:
    rounds, contenders = (15 if _kind(store) == "local" else 8), 6
    for round_number in range(rounds):
        store.delete(KEY)
        foreign_lease(store, expires_at=time.time() - 3600)
        barrier = threading.Barrier(contenders)
        winners: list[RunLease] = []
        errors: list[BaseException] = []

        threads = [threading.Thread(target=_contend, args=(store, barrier, winners, errors)) for _ in range(contenders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(winners) == 1, f"round {round_number}: {len(winners)} runs hold the lease"
        winners[0].release()
    record("lease: stale-lease takeover race", store=_kind(store), scenarios=rounds, contenders=contenders)


def _contend(
    store: ObjectStore, barrier: threading.Barrier, winners: list[RunLease], errors: list[BaseException]
) -> None:
    lease = RunLease(store, "EP1", heartbeat=False)
    barrier.wait()
    try:
        lease.acquire()
    except EpisodeBusy:
        return
    except BaseException as exc:
        errors.append(exc)
        return
    winners.append(lease)


def _hammer(store_url: str, env: dict[str, str], log_path: str, rounds: int) -> None:
    """Worker process: take the lease ``rounds`` times, logging enter/exit with O_APPEND."""
    os.environ.update(env)
    store = open_store(store_url)
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for _ in range(rounds):
            with RunLease(store, "EP1", ttl=30, wait=120, poll=0.005, heartbeat=False):
                os.write(fd, f"enter {os.getpid()}\n".encode())
                time.sleep(0.003)
                os.write(fd, f"exit {os.getpid()}\n".encode())
    finally:
        os.close(fd)


@pytest.mark.slow
def test_processes_hammering_one_lease_never_hold_it_together(store: ObjectStore, tmp_path: Path) -> None:
    s3 = _kind(store) == "s3"
    workers, rounds = (3, 8) if s3 else (4, 25)
    log_path = tmp_path / "critical.log"
    env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_hammer, args=(store.url if not s3 else _s3_url(store), env, str(log_path), rounds))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=240)
        assert process.exitcode == 0
    lines = log_path.read_text().splitlines()
    assert len(lines) == 2 * workers * rounds
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):
        assert enter.startswith("enter ")
        assert leave == "exit " + enter.split()[1], "two holders overlapped"
    assert not store.exists(KEY)
    record("lease: processes contending", store=_kind(store), scenarios=workers * rounds, workers=workers)


def _kind(store: ObjectStore) -> str:
    return "s3" if store.url.startswith("s3://") else "local"


def _s3_url(store: ObjectStore) -> str:
    return store.url


def test_a_store_error_while_taking_the_lease_is_a_clear_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    store = open_store(str(tmp_path / "file"))  # the store root is a file: nothing can be created under it
    with pytest.raises(StorageError) as caught:
        RunLease(store, "EP1").acquire()
    assert "runs/EP1" in caught.value.message


@pytest.mark.parametrize("command", ["run", "transcribe"])
def test_a_command_line_run_or_transcription_is_refused_while_the_episode_is_leased(
    command: str, tmp_path: Path
) -> None:
    from diarflow.adapters.stores import LocalStore
    from diarflow.samples.synthetic import synthetic_deepgram
    from tests.reliability import diarflow_cli, run_args

    store = LocalStore(tmp_path / "store")
    transcript = tmp_path / "t.json"
    transcript.write_bytes(orjson.dumps(synthetic_deepgram(num_words=40, num_turns=4, num_speakers=2, seed=1)))
    args = {
        "run": run_args("EP1", transcript, store.url),
        "transcribe": ["transcribe", "--episode-id", "EP1", "--audio", "https://a.example/x.mp3", "--store", store.url],
    }[command]
    with RunLease(store, "EP1", heartbeat=False) as first:
        busy = diarflow_cli(*args, env={"DEEPGRAM_API_KEY": "dg-never-called"})
        assert first.record is not None
        assert orjson.loads(store.get_bytes(KEY))["token"] == first.record.token  # still ours
    assert busy.returncode == 1, busy.stderr
    last = busy.stderr.strip().splitlines()[-1]
    assert last.startswith("error: episode EP1 is being processed by "), busy.stderr
    assert " until " in last
    assert busy.stdout == ""
    assert list(store.list("transcripts/")) == []  # it stopped before touching any artifact
