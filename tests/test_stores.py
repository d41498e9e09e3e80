"""The object-store contract, run on the local store and on S3 (a real SeaweedFS server).

Contract tests take the ``store`` fixture and run on both; store-specific
behaviour (files on disk, S3 errors and endpoints) follows, then ``open_store``.
"""

from __future__ import annotations

import errno
import os
import random
import subprocess
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from diarflow.adapters.stores import (
    DEFAULT_STORE,
    STORE_ENV,
    LocalStore,
    ObjectStore,
    check_key,
    check_prefix,
    dump_json,
    get_json,
    open_store,
    put_json,
)
from diarflow.adapters.stores.s3 import S3Store
from diarflow.errors import (
    ArtifactNotFound,
    InvalidConfig,
    InvalidInput,
    StorageError,
    StorageUnavailable,
)
from tests.seaweedfs import S3Endpoint, SeaweedFS

MiB = 1024 * 1024

# --- round trips ----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"x", bytes(range(256)) * 3, "ünïcødé 日本語 🎙️\n".encode()],
    ids=["empty", "one-byte", "binary", "utf8"],
)
def test_bytes_round_trip(store: ObjectStore, data: bytes) -> None:
    store.put_bytes("blobs/item.bin", data)
    assert store.get_bytes("blobs/item.bin") == data
    assert store.exists("blobs/item.bin")


def test_json_round_trip_uses_orjson(store: ObjectStore) -> None:
    value = {
        "episode_id": "E1",
        "speaker": "Zoë Ångström – 日本語 🎙️",
        "words": [{"word": "naïve", "start": 0.1, "end": 0.35, "confidence": None}] * 3,
        "big": 2**53,
        "flags": [True, False],
        "nested": {"empty": {}, "list": []},
    }
    written = put_json(store, "diarization/E1.json", value)
    assert written == orjson.dumps(value)  # compact UTF-8, no escaping of non-ASCII
    assert store.get_bytes("diarization/E1.json") == written
    assert get_json(store, "diarization/E1.json") == value


def test_json_serializes_numpy(store: ObjectStore) -> None:
    put_json(store, "arrays.json", {"ids": np.arange(3), "scores": np.array([0.5, 0.25], dtype=np.float32)})
    assert get_json(store, "arrays.json") == {"ids": [0, 1, 2], "scores": [0.5, 0.25]}
    assert dump_json(np.float64(0.5)) == b"0.5"


def test_get_json_of_a_corrupt_object_names_the_key(store: ObjectStore) -> None:
    store.put_bytes("runs/E1/step.json", b'{"truncated": ')
    with pytest.raises(StorageError, match=r"runs/E1/step\.json") as caught:
        get_json(store, "runs/E1/step.json")
    assert not isinstance(caught.value, ArtifactNotFound)


def test_unicode_keys(store: ObjectStore) -> None:
    key = "voiceprints/pödcast/日本-🎙️.json"
    put_json(store, key, {"ok": True})
    assert get_json(store, key) == {"ok": True}
    assert list(store.list("voiceprints/")) == [key]


def test_overwrite_replaces_the_object(store: ObjectStore) -> None:
    store.put_bytes("k", b"first, and longer than the second")
    store.put_bytes("k", b"second")
    assert store.get_bytes("k") == b"second"


def test_large_object_round_trip(store: ObjectStore, request: pytest.FixtureRequest) -> None:
    """~70 MiB: above the S3 store's multipart threshold, so S3 uploads it in parts."""
    data = random.Random(70).randbytes(70 * MiB)
    store.put_bytes("audio/large.bin", data)
    try:
        assert store.get_bytes("audio/large.bin") == data
        if isinstance(store, S3Store):
            endpoint: S3Endpoint = request.getfixturevalue("seaweedfs")
            head = endpoint.client().head_object(Bucket=store.bucket, Key=f"{store.prefix}audio/large.bin")
            assert "-" in head["ETag"], "a multipart upload's ETag ends in -<parts>"
            assert head["ContentLength"] == len(data)
    finally:
        store.delete("audio/large.bin")


# --- missing keys, exists, delete ---------------------------------------------------


def test_get_of_a_missing_key_is_artifact_not_found(store: ObjectStore) -> None:
    for read in (store.get_bytes, lambda key: get_json(store, key)):
        with pytest.raises(ArtifactNotFound) as caught:
            read("diarization/missing.json")
        assert caught.value.key == "diarization/missing.json"
        assert "diarization/missing.json" in str(caught.value)
        assert not caught.value.retryable


def test_a_prefix_is_not_an_object(store: ObjectStore) -> None:
    store.put_bytes("diarization/E1/clips/A.wav", b"RIFF")
    assert not store.exists("diarization/E1")
    assert store.version("diarization/E1") is None
    with pytest.raises(ArtifactNotFound):
        store.get_bytes("diarization/E1")
    store.delete("diarization/E1")  # nothing to delete: no error, and the objects under it stay
    assert store.get_bytes("diarization/E1/clips/A.wav") == b"RIFF"


def test_exists(store: ObjectStore) -> None:
    assert not store.exists("a/b.json")
    store.put_bytes("a/b.json", b"{}")
    assert store.exists("a/b.json")
    assert not store.exists("a/b.jso")
    assert not store.exists("a/b.json.x")


def test_delete_is_idempotent(store: ObjectStore) -> None:
    store.put_bytes("runs/E1/a.json", b"1")
    store.put_bytes("runs/E1/b.json", b"2")
    store.delete("runs/E1/a.json")
    assert not store.exists("runs/E1/a.json")
    store.delete("runs/E1/a.json")
    store.delete("never/written.json")
    assert list(store.list("runs/")) == ["runs/E1/b.json"]
    with pytest.raises(ArtifactNotFound):
        store.get_bytes("runs/E1/a.json")


def test_version_changes_with_every_rewrite(store: ObjectStore) -> None:
    assert store.version("v.json") is None
    versions = []
    for i in range(20):
        store.put_bytes("v.json", b"%04d" % i)  # same size every time
        versions.append(store.version("v.json"))
        assert store.version("v.json") == versions[-1]  # stable while unchanged
    assert None not in versions
    assert len(set(versions)) == len(versions)
    store.delete("v.json")
    assert store.version("v.json") is None


def test_size(store: ObjectStore) -> None:
    size: Callable[[str], int | None] = store.size  # type: ignore[attr-defined]  # both stores, not (yet) the protocol
    assert size("sized.bin") is None
    store.put_bytes("sized.bin", b"12345")
    assert size("sized.bin") == 5
    store.put_bytes("sized.bin", b"")
    assert size("sized.bin") == 0
    store.put_bytes("sized/inner.bin", b"x")
    assert size("sized") is None  # a prefix, not an object


# --- listing --------------------------------------------------------------------------

NESTED = [
    "diarization/E1.json",
    "diarization/E1.audit.json",
    "diarization/E1/clips/A.wav",
    "diarization/E1/clips/B.wav",
    "diarization/E10.json",
    "runs/E1/local-diarize-v1.json",
    "transcripts/E1/deepgram.json",
]


def test_list_by_prefix(store: ObjectStore) -> None:
    for key in NESTED:
        store.put_bytes(key, key.encode())

    def listed(prefix: str) -> list[str]:
        keys = store.list(prefix)
        assert isinstance(keys, Iterator)
        return list(keys)

    assert listed("") == sorted(NESTED)
    assert listed("diarization/") == [
        "diarization/E1.audit.json",
        "diarization/E1.json",
        "diarization/E1/clips/A.wav",
        "diarization/E1/clips/B.wav",
        "diarization/E10.json",
    ]
    assert listed("diarization/E1.") == ["diarization/E1.audit.json", "diarization/E1.json"]
    assert listed("diarization/E1/") == ["diarization/E1/clips/A.wav", "diarization/E1/clips/B.wav"]
    assert listed("diarization/E1/clips/B") == ["diarization/E1/clips/B.wav"]
    assert listed("diar") == listed("diarization/")
    assert listed("transcripts/E1/deepgram.json") == ["transcripts/E1/deepgram.json"]
    assert listed("transcripts/E2/") == []
    assert listed("nothing") == []


def test_list_pages_past_a_thousand_keys(store: ObjectStore, request: pytest.FixtureRequest) -> None:
    count = 1005  # S3 answers at most 1000 keys per request
    keys = [f"many/{i:05d}.json" for i in range(count)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: store.put_bytes(key, b""), keys))
    store.put_bytes("many-not-under-the-prefix.json", b"")
    if isinstance(store, S3Store):  # the test is only meaningful if one request does not return everything
        endpoint: S3Endpoint = request.getfixturevalue("seaweedfs")
        page = endpoint.client().list_objects_v2(Bucket=store.bucket, Prefix=f"{store.prefix}many/")
        assert page["IsTruncated"]
    assert list(store.list("many/")) == keys


def test_list_validates_the_prefix(store: ObjectStore) -> None:
    for bad in ("/abs", "../", "a/../b", "a//b", "a\\b", "./a"):
        with pytest.raises(InvalidInput):
            list(store.list(bad))
    for good in ("", "a/", "a/b.", "..x", "a/.."):
        assert list(store.list(good)) == []


# --- create-if-absent ------------------------------------------------------------------


def test_create_if_absent_first_wins(store: ObjectStore) -> None:
    assert store.create_if_absent("locks/E1.json", b"first")
    assert not store.create_if_absent("locks/E1.json", b"second")
    assert store.get_bytes("locks/E1.json") == b"first"
    store.put_bytes("locks/E1.json", b"overwritten")  # a plain put still replaces it
    assert not store.create_if_absent("locks/E1.json", b"third")
    store.delete("locks/E1.json")
    assert store.create_if_absent("locks/E1.json", b"after delete")
    assert store.get_bytes("locks/E1.json") == b"after delete"


def test_create_if_absent_race_between_threads(store: ObjectStore) -> None:
    contenders = 6  # SeaweedFS makes the losers of a conditional-write race wait in 1 s steps: keep it small
    for round_ in range(2):
        key = f"race/{round_}.json"
        barrier = threading.Barrier(contenders)

        def contend(i: int, key: str = key, barrier: threading.Barrier = barrier) -> bool:
            barrier.wait()
            return store.create_if_absent(key, f"writer {i}".encode())

        with ThreadPoolExecutor(contenders) as pool:
            won = list(pool.map(contend, range(contenders)))
        assert won.count(True) == 1, won
        assert store.get_bytes(key) == f"writer {won.index(True)}".encode()


_RACER = """
import os, sys, time
from diarflow.adapters.stores import open_store
store = open_store(sys.argv[1])
while not os.path.exists(sys.argv[2]):
    time.sleep(0.001)
print(store.create_if_absent("race/processes.json", str(os.getpid()).encode()))
"""


def test_create_if_absent_race_between_processes(store: ObjectStore, tmp_path: Path) -> None:
    """Separate processes opening the store from its URL (and, for S3, the AWS_* environment)."""
    go = tmp_path / "go"
    url = store.url if isinstance(store, S3Store) else f"file://{store.url}"
    racers = [
        subprocess.Popen([sys.executable, "-c", _RACER, url, str(go)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    go.touch()
    outputs = [racer.communicate(timeout=60)[0].strip() for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)
    assert sorted(outputs) == ["False"] * 3 + ["True"]
    winner = racers[outputs.index("True")]
    assert store.get_bytes("race/processes.json") == str(winner.pid).encode()


# --- atomic overwrite --------------------------------------------------------------------


def test_overwrite_is_atomic_for_concurrent_readers(store: ObjectStore) -> None:
    """A reader looping on get_bytes while a writer alternates two payloads sees one or the other, whole."""
    small, large = b"a" * (6 * MiB), b"b" * (9 * MiB)  # several 4 MiB chunks on SeaweedFS
    store.put_bytes("artifact.bin", small)
    done = threading.Event()
    reads: list[int] = []
    torn: list[tuple[int, bytes, bytes]] = []
    errors: list[BaseException] = []

    def reader() -> None:
        while not done.is_set():
            try:
                data = store.get_bytes("artifact.bin")
            except BaseException as exc:
                errors.append(exc)
                return
            reads.append(len(data))
            if data not in (small, large):
                torn.append((len(data), data[:1], data[-1:]))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(12):
            store.put_bytes("artifact.bin", large if i % 2 == 0 else small)
    finally:
        done.set()
        thread.join()
    assert not errors, errors
    assert not torn, f"{len(torn)} torn reads, e.g. {torn[:3]}"
    assert len(reads) >= 3, "the reader never overlapped the writer"
    assert set(reads) == {len(small), len(large)}


# --- key validation -------------------------------------------------------------------

BAD_KEYS = ["", "/abs/key.json", "../x", "a/../../x", "a/./b", "a//b", "a/", ".", "..", "a\\b", "nul\x00", "k" * 1025]


def _operations(store: ObjectStore) -> dict[str, Callable[[str], Any]]:
    return {
        "put_bytes": lambda key: store.put_bytes(key, b"x"),
        "create_if_absent": lambda key: store.create_if_absent(key, b"x"),
        "get_bytes": store.get_bytes,
        "exists": store.exists,
        "version": store.version,
        "delete": store.delete,
        "put_json": lambda key: put_json(store, key, {}),
        "get_json": lambda key: get_json(store, key),
    }


def test_invalid_keys_are_rejected(store: ObjectStore) -> None:
    for key in BAD_KEYS:
        for name, operation in _operations(store).items():
            with pytest.raises(InvalidInput) as caught:
                operation(key)
            assert caught.value.field == "key", (name, key)
    assert list(store.list("")) == []


class _NoIO:
    """An S3 client that fails the test if the store touches it."""

    meta = None

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store called client.{name} before validating the key")


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_invalid_keys_are_rejected_before_any_io(tmp_path: Path, kind: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    # Any I/O on these stores fails differently: the local root lies under a regular file.
    store: ObjectStore = LocalStore(blocker / "root") if kind == "local" else S3Store("bucket", client=_NoIO())  # type: ignore[arg-type]
    for key in BAD_KEYS:
        for operation in _operations(store).values():
            with pytest.raises(InvalidInput):
                operation(key)
    with pytest.raises(InvalidInput):
        list(store.list("../"))


def test_key_helpers() -> None:
    assert check_key("diarization/E1/clips/A.wav") == "diarization/E1/clips/A.wav"
    assert check_key("..x/y..") == "..x/y.."
    assert check_prefix("") == ""
    assert check_prefix("runs/E1/") == "runs/E1/"
    with pytest.raises(InvalidInput, match="prefix"):
        check_prefix("runs/../")


# --- the local store ---------------------------------------------------------------------


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


def test_local_writes_leave_no_temp_files(local_store: LocalStore) -> None:
    local_store.put_bytes("a/b.json", b"1")
    local_store.put_bytes("a/b.json", b"2")
    assert local_store.create_if_absent("a/c.json", b"3")
    assert not local_store.create_if_absent("a/c.json", b"4")
    put_json(local_store, "d.json", {"x": 1})
    assert _files(local_store.root) == ["a/b.json", "a/c.json", "d.json"]


def test_local_files_follow_the_umask(local_store: LocalStore) -> None:
    previous = os.umask(0o022)
    try:
        local_store.put_bytes("shared.json", b"{}")
        local_store.create_if_absent("created.json", b"{}")
        os.umask(0o077)
        local_store.put_bytes("private.json", b"{}")
    finally:
        os.umask(previous)
    assert (local_store.root / "shared.json").stat().st_mode & 0o777 == 0o644
    assert (local_store.root / "created.json").stat().st_mode & 0o777 == 0o644
    assert (local_store.root / "private.json").stat().st_mode & 0o777 == 0o600


def test_local_errors_name_the_path(tmp_path: Path) -> None:
    """A root that cannot be a directory (its parent is a regular file: root ignores permissions)."""
    (tmp_path / "plain-file").write_text("not a directory")
    store = LocalStore(tmp_path / "plain-file" / "store")
    for write in (lambda: store.put_bytes("a/b.json", b"x"), lambda: store.create_if_absent("a/b.json", b"x")):
        with pytest.raises(StorageError) as caught:
            write()
        message = str(caught.value)
        assert str(tmp_path / "plain-file" / "store" / "a" / "b.json") in message
        assert "not a directory" in message
        assert caught.value.key == "a/b.json"
        assert not caught.value.retryable
    with pytest.raises(ArtifactNotFound):
        store.get_bytes("a/b.json")
    assert not store.exists("a/b.json")
    assert list(store.list("")) == []
    store.delete("a/b.json")


def test_local_permission_denied_names_the_path(local_store: LocalStore, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def denied(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        if str(path).startswith(str(local_store.root)) and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(StorageError, match="permission denied") as caught:
        local_store.put_bytes("runs/E1/x.json", b"{}")
    assert str(local_store.root / "runs" / "E1" / "x.json") in str(caught.value)


def test_local_failed_write_keeps_the_previous_content(
    local_store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_store.put_bytes("diarization/E1.json", b"previous")

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(StorageError, match="no space left"):
        local_store.put_bytes("diarization/E1.json", b"new content that never fully lands")
    with pytest.raises(StorageError, match="no space left"):
        local_store.create_if_absent("diarization/E2.json", b"never")
    monkeypatch.undo()
    assert local_store.get_bytes("diarization/E1.json") == b"previous"
    assert not local_store.exists("diarization/E2.json")
    assert _files(local_store.root) == ["diarization/E1.json"]


def test_local_write_over_a_prefix_fails_cleanly(local_store: LocalStore) -> None:
    local_store.put_bytes("a/b.json", b"1")
    with pytest.raises(StorageError, match="is a directory"):
        local_store.put_bytes("a", b"x")
    assert not local_store.create_if_absent("a", b"x")  # "a" is taken (by a directory)
    assert _files(local_store.root) == ["a/b.json"]


def test_local_store_ignores_leftovers(local_store: LocalStore) -> None:
    """A writer killed mid-write leaves a temp file; empty directories stay after deletes."""
    local_store.put_bytes("runs/E1/a.json", b"1")
    (local_store.root / "runs" / "E1" / ".diarflow-tmp-0123456789abcdef").write_bytes(b"partial")
    local_store.put_bytes("runs/E2/a.json", b"1")
    local_store.delete("runs/E2/a.json")
    assert list(local_store.list("")) == ["runs/E1/a.json"]
    with pytest.raises(InvalidInput, match="reserved"):
        local_store.put_bytes("runs/E1/.diarflow-tmp-x", b"")


def test_local_store_on_a_missing_root(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "not" / "yet")
    assert list(store.list("")) == []
    assert not store.exists("k")
    store.delete("k")
    store.put_bytes("k", b"v")
    assert store.get_bytes("k") == b"v"


# --- the S3 store ---------------------------------------------------------------------


def _full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.s3
def test_s3_server_down_is_storage_unavailable(s3_env: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    port = _closed_port()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("DIARFLOW_S3_MAX_ATTEMPTS", "1")
    store = open_store("s3://diarflow-test/down")  # opening does no I/O
    for operation in (
        lambda: store.get_bytes("k"),
        lambda: store.put_bytes("k", b"v"),
        lambda: store.exists("k"),
        lambda: list(store.list("")),
        lambda: store.create_if_absent("k", b"v"),
        lambda: store.delete("k"),
    ):
        with pytest.raises(StorageUnavailable) as caught:
            operation()
        assert caught.value.retryable
        assert f"127.0.0.1:{port}" in str(caught.value)
        text = _full_text(caught.value)
        assert s3_env.secret_key not in text
        assert s3_env.access_key not in text


@pytest.mark.s3
def test_s3_wrong_credentials_are_a_storage_error(
    s3_env: S3Endpoint, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = open_store(f"s3://{s3_bucket}/creds")  # a store opened first must not pin its credentials
    good.put_bytes("k", b"v")
    wrong_secret = f"wrong-{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong_secret)
    bad = open_store(f"s3://{s3_bucket}/creds")
    for operation in (lambda: bad.get_bytes("k"), lambda: bad.put_bytes("k", b"x"), lambda: bad.exists("k")):
        with pytest.raises(StorageError) as caught:
            operation()
        assert not isinstance(caught.value, StorageUnavailable | ArtifactNotFound)
        assert not caught.value.retryable
        assert "SignatureDoesNotMatch" in str(caught.value) or "403" in str(caught.value)
        assert wrong_secret not in _full_text(caught.value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nobody")
    with pytest.raises(StorageError, match=r"InvalidAccessKeyId|403"):
        open_store(f"s3://{s3_bucket}/creds").get_bytes("k")
    assert good.get_bytes("k") == b"v"


@pytest.mark.s3
def test_s3_missing_bucket(s3_env: S3Endpoint) -> None:
    store = open_store(f"s3://missing-{uuid.uuid4().hex[:8]}")
    with pytest.raises(StorageError, match="does not exist") as caught:
        store.get_bytes("k")
    assert not isinstance(caught.value, ArtifactNotFound)


@pytest.mark.s3
def test_s3_urls_map_to_bucket_and_prefix(s3_env: S3Endpoint, s3_bucket: str) -> None:
    client = s3_env.client()
    nested = open_store(f"s3://{s3_bucket}/urls/deep/")
    assert nested.url == f"s3://{s3_bucket}/urls/deep"
    nested.put_bytes("a.json", b"1")
    assert client.get_object(Bucket=s3_bucket, Key="urls/deep/a.json")["Body"].read() == b"1"

    bucket = f"bare-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    bare = open_store(f"s3://{bucket}")
    assert bare.url == f"s3://{bucket}"
    bare.put_bytes("x/y.json", b"2")
    assert list(bare.list("")) == ["x/y.json"]
    assert client.get_object(Bucket=bucket, Key="x/y.json")["Body"].read() == b"2"


@pytest.mark.s3
def test_s3_store_survives_its_server_stopping(
    s3_env: S3Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second, short-lived server beside the session's (own ports); when it stops, calls fail retryably."""
    server = SeaweedFS(tmp_path / "short-lived")
    with server as endpoint:
        assert endpoint.url != s3_env.url
        endpoint.client().create_bucket(Bucket="short")
        for name, value in {**endpoint.env(), "DIARFLOW_S3_MAX_ATTEMPTS": "1"}.items():
            monkeypatch.setenv(name, value)
        store = open_store("s3://short/p")
        store.put_bytes("k", b"v")
        pid, ports = server.pid, dict(server.ports)
    assert pid is not None
    assert not _alive(pid)
    leftovers = [p.name for p in Path("/tmp").glob("seaweedfs-*.sock") if p.stem.rsplit("-", 1)[-1] in _all(ports)]
    assert leftovers == []
    with pytest.raises(StorageUnavailable):
        store.get_bytes("k")
    assert s3_env.client().list_buckets()["Buckets"]  # the session's server is untouched


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _all(ports: dict[str, int]) -> set[str]:
    return {str(p) for base in ports.values() for p in (base, base + 10000)}


# The S3 error mapping, on responses botocore's Stubber makes up (no server needed).


@pytest.fixture
def stubbed() -> Iterator[tuple[S3Store, Any]]:
    import boto3
    from botocore.stub import Stubber

    client = boto3.session.Session().client(
        "s3", region_name="us-east-1", aws_access_key_id="AKIASTUB", aws_secret_access_key="stub-secret"
    )
    with Stubber(client) as stubber:
        yield S3Store("bucket", "p", client=client), stubber


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("OperationAborted", 409, StorageUnavailable),
        ("InternalError", 500, StorageUnavailable),
        ("SlowDown", 503, StorageUnavailable),
        ("PreconditionFailed", 412, StorageError),
        ("AccessDenied", 403, StorageError),
        ("NoSuchKey", 404, ArtifactNotFound),
    ],
)
def test_s3_error_mapping(stubbed: tuple[S3Store, Any], code: str, status: int, expected: type[Exception]) -> None:
    store, stubber = stubbed
    stubber.add_client_error("get_object", service_error_code=code, http_status_code=status)
    with pytest.raises(StorageError) as caught:
        store.get_bytes("k")
    assert type(caught.value) is expected
    assert code in str(caught.value) or expected is ArtifactNotFound


def test_s3_create_if_absent_retries_conditional_conflicts(stubbed: tuple[S3Store, Any]) -> None:
    store, stubber = stubbed
    stubber.add_client_error("put_object", service_error_code="ConditionalRequestConflict", http_status_code=409)
    stubber.add_response("put_object", {})
    assert store.create_if_absent("k", b"v")
    stubber.add_client_error("put_object", service_error_code="PreconditionFailed", http_status_code=412)
    assert not store.create_if_absent("k", b"v")
    stubber.add_client_error("put_object", service_error_code="AccessDenied", http_status_code=403)
    with pytest.raises(StorageError, match="AccessDenied"):
        store.create_if_absent("k", b"v")
    stubber.assert_no_pending_responses()


# --- open_store ---------------------------------------------------------------------------


def test_open_store_relative_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("./data")
    assert isinstance(store, LocalStore)
    store.put_bytes("k.json", b"1")
    assert (tmp_path / "data" / "k.json").read_bytes() == b"1"
    assert store.url == str(tmp_path.resolve() / "data")


def test_open_store_file_urls(tmp_path: Path) -> None:
    for url in (f"file://{tmp_path}/a", f"file://localhost{tmp_path}/a", str(tmp_path / "a")):
        store = open_store(url)
        assert isinstance(store, LocalStore)
        assert store.root == (tmp_path / "a").resolve()
    spaced = open_store(f"file://{tmp_path}/with%20space")
    assert isinstance(spaced, LocalStore)
    assert spaced.root == (tmp_path / "with space").resolve()


def test_open_store_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(STORE_ENV, raising=False)
    default = open_store()
    assert isinstance(default, LocalStore)
    assert default.root == (tmp_path / DEFAULT_STORE).resolve()
    monkeypatch.setenv(STORE_ENV, str(tmp_path / "from-env"))
    from_env = open_store(None)
    assert isinstance(from_env, LocalStore)
    assert from_env.root == (tmp_path / "from-env").resolve()


def test_open_store_s3_url_without_io(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    store = open_store("s3://my-bucket/some/prefix/")
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.url) == ("my-bucket", "some/prefix/", "s3://my-bucket/some/prefix")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/store", "unsupported store URL scheme 'http'"),
        ("gs://bucket/prefix", "unsupported store URL scheme 'gs'"),
        ("s3://", "names no bucket"),
        ("s3:///prefix", "names no bucket"),
        ("s3://ab", "bucket name"),
        ("s3://bucket_/x", "bucket name"),
        ("s3://bucket:9000/x", "bucket name"),
        ("s3://bucket/a/../b", "prefix"),
        ("s3://bucket/x?versionId=1", "no query"),
        ("file://otherhost/x", "local path"),
        ("file://", "names no directory"),
    ],
)
def test_open_store_rejects_bad_urls(url: str, message: str) -> None:
    with pytest.raises(InvalidConfig, match=message) as caught:
        open_store(url)
    assert caught.value.field == "store"


def test_open_store_never_echoes_credentials_in_urls() -> None:
    for url in ("s3://AKIAXXXX:hunter2-secret@bucket/x", "https://user:hunter2-secret@example.com/x"):
        with pytest.raises(InvalidConfig) as caught:
            open_store(url)
        assert "hunter2" not in str(caught.value)


def test_local_stores_do_not_import_boto3(tmp_path: Path) -> None:
    code = (
        "import sys; from diarflow.adapters.stores import open_store, put_json; "
        f"put_json(open_store({str(tmp_path)!r}), 'k.json', [1]); "
        "assert not [m for m in sys.modules if m.startswith(('boto3', 'botocore'))], 'boto3 imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
