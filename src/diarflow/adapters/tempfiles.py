"""diarflow's temporary files: named after the process that owns them, so the next run removes a killed one's.

A process killed with SIGKILL (or by the OOM killer, or a power cut) runs no
``finally`` and no ``TemporaryDirectory`` cleanup: an audio download or a
half-written store file would stay forever. So every temporary file diarflow
writes carries its owner in its name,

    ``<prefix><host>-<pid>-<start>-<random>``

(``host``: a short hash of :func:`~diarflow.adapters.processes.host_identity`;
``start``: the process start time, so a reused pid is not mistaken for the
owner), and every writer of temporary files first :func:`sweep`\\ s the
directory it writes in. An entry is stale when

* its owner ran on this host and is gone (dead, or its pid now names another
  process): removed at once, so a rerun after a crash cleans up immediately;
* its owner cannot be checked (another host sharing the directory, or a name
  written before owners were recorded) and it is older than
  :data:`STALE_AFTER_SECONDS`.

A live owner's files are never touched, however old.

Two kinds of place use it: :func:`temporary_directory` (downloads, clips
for upload) under one private directory of this user,
``<system temp>/diarflow-<uid>/``; and the local store's ``.diarflow-tmp-…``
files, which must sit next to their target so the rename into place is atomic
(:class:`~diarflow.adapters.stores.local.LocalStore` sweeps each directory it
writes in).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from diarflow.adapters.processes import host_identity, process_alive, process_start
from diarflow.errors import StorageError

log = logging.getLogger(__name__)

STALE_AFTER_SECONDS = 24 * 3600.0
"""Age after which an entry whose owner cannot be checked (another host, an old name) is removed."""

_OWNER = re.compile(r"(?:\A|-)(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]+)-(?P<start>[0-9]+|x)-[0-9a-f]{16}\Z")
"""The owner at the end of a name written by :func:`owned_name`, whatever its prefix."""


def owned_name(prefix: str) -> str:
    """A fresh name ``<prefix><host>-<pid>-<start>-<random>`` owned by this process."""
    pid = os.getpid()
    return f"{prefix}{_host_tag()}-{pid}-{process_start(pid) or 'x'}-{secrets.token_hex(8)}"


def is_stale(name: str, modified: float, *, now: float | None = None) -> bool:
    """Whether the temporary entry ``name``, last modified at ``modified`` (epoch seconds), may be removed."""
    owner = _OWNER.search(name)
    if owner is not None and owner["host"] == _host_tag():
        return not process_alive(int(owner["pid"]), None if owner["start"] == "x" else owner["start"])
    return (time.time() if now is None else now) - modified > STALE_AFTER_SECONDS


def sweep(directory: Path, prefix: str) -> list[str]:
    """Remove the stale entries of ``directory`` whose names start with ``prefix``; returns their names.

    Best effort: a sweep that cannot list or remove something never fails the write that asked for it.
    """
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        try:
            modified = entry.stat(follow_symlinks=False).st_mtime
            if not is_stale(entry.name, modified, now=now):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:
            continue  # its owner finished, or another sweeper was first
        except OSError as exc:
            log.debug("could not remove the stale temporary %s: %s", entry.path, exc)
            continue
        removed.append(entry.name)
    if removed:
        log.info("removed %d temporary file(s) left by killed runs in %s", len(removed), directory)
    return removed


def temp_root() -> Path:
    """This user's private directory for diarflow's temporary files, ``<system temp>/diarflow-<uid>``.

    The system temp directory is shared: a directory there that another user
    created (or a symlink planted in its place) is refused, never written into.
    """
    root = Path(tempfile.gettempdir()) / f"diarflow-{_uid()}"
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o700)
    try:
        info = os.lstat(root)
    except OSError as exc:
        raise StorageError(f"cannot create the temporary directory {root}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != _uid() or info.st_mode & 0o077:
        raise StorageError(
            f"{root} is not a private directory of this user (a symlink, another owner, or readable by others); "
            "remove it, or point TMPDIR elsewhere"
        )
    return root


@contextlib.contextmanager
def temporary_directory(kind: str) -> Iterator[Path]:
    """A new private directory for this process's ``kind`` of temporary files (``audio``…), removed on exit.

    Directories of killed runs are swept first, whatever their kind.
    """
    root = temp_root()
    sweep(root, "")
    folder = root / owned_name(f"{kind}-")
    try:
        folder.mkdir(mode=0o700)
    except OSError as exc:
        raise StorageError(f"cannot create a temporary directory in {root}: {exc.strerror or exc}") from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _host_tag() -> str:
    """8 hex digits naming this host, boot and pid namespace (names must stay short)."""
    return hashlib.blake2b(host_identity().encode(), digest_size=4).hexdigest()


def _uid() -> int:
    getuid = getattr(os, "getuid", None)  # POSIX only; elsewhere the temp directory is per user already
    return int(getuid()) if getuid is not None else 0
