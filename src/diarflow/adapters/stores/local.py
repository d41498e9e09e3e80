"""A store in a local directory: the embedded default (``./diarflow-data``)."""

from __future__ import annotations

import contextlib
import errno
import os
import stat as stat_mode
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from diarflow.adapters import tempfiles
from diarflow.adapters.stores.base import check_key, check_prefix
from diarflow.errors import ArtifactNotFound, InvalidInput, StorageError

#: Writes go to a hidden temp file next to the target first; no key may name one.
_TEMP_PREFIX = ".diarflow-tmp-"
SWEEP_INTERVAL_SECONDS = 600.0
"""How often one store object looks again for temp files of killed writers in a directory it writes in."""


class LocalStore:
    """Objects are files under ``root``; writes go through a temp file, fsync and rename.

    Files get the permissions of any file the user creates (``0o666`` less the umask).
    A temp file names its writer (:mod:`~diarflow.adapters.tempfiles`): the first
    write into a directory removes the temp files that killed writers left there.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)
        self._swept: dict[Path, float] = {}
        self._swept_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalStore({self.url!r})"

    def _path(self, key: str) -> Path:
        parts = check_key(key).split("/")
        if parts[-1].startswith(_TEMP_PREFIX):
            raise InvalidInput("key", f"{key[:80]!r}: names starting with {_TEMP_PREFIX!r} are reserved")
        return self.root.joinpath(*parts)

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        with _OSErrors("write", path, key):
            temp = self._write_temp(path, data)
            try:
                os.replace(temp, path)
            except BaseException:
                _remove(temp)
                raise
            _fsync_dir(path.parent)

    def create_if_absent(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> bool:
        path = self._path(key)
        with _OSErrors("write", path, key):
            temp = self._write_temp(path, data)
            try:
                # link() fails if the target exists: an atomic, complete create-if-absent.
                os.link(temp, path)
            except FileExistsError:
                return False
            finally:
                _remove(temp)
            _fsync_dir(path.parent)
        return True

    def get_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise ArtifactNotFound(f"{key} does not exist in {self.url}", key=key) from None
        except IsADirectoryError:
            raise ArtifactNotFound(f"{key} is a prefix, not an object, in {self.url}", key=key) from None
        except OSError as exc:
            raise _storage_error("read", exc, path, key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def version(self, key: str) -> str | None:
        stat = self._stat(key)
        # Every write renames a new file into place, so the inode changes even within one mtime tick.
        return None if stat is None else f"{stat.st_ino}-{stat.st_mtime_ns}-{stat.st_size}"

    def size(self, key: str) -> int | None:
        """The object's size in bytes, None if absent: lets callers refuse an oversized input before reading it."""
        stat = self._stat(key)
        return None if stat is None else stat.st_size

    def _stat(self, key: str) -> os.stat_result | None:
        """The object's file status; None when absent or a prefix of other keys (a directory)."""
        path = self._path(key)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise _storage_error("read", exc, path, key) from None
        return stat if stat_mode.S_ISREG(stat.st_mode) else None

    def list(self, prefix: str) -> Iterator[str]:
        check_prefix(prefix)
        # Start in the directory the prefix names, and descend only where keys can match.
        directory = prefix.rpartition("/")[0]
        start = self.root.joinpath(*directory.split("/")) if directory else self.root
        if not start.is_dir():
            return iter([])

        def fail(exc: OSError) -> None:
            if not isinstance(exc, FileNotFoundError | NotADirectoryError):  # removed while we walk
                raise _storage_error("list", exc, Path(exc.filename or start), prefix)

        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start, onerror=fail):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            base = "" if rel == "." else f"{rel}/"
            dirnames[:] = [
                d for d in dirnames if (base + d + "/").startswith(prefix) or prefix.startswith(base + d + "/")
            ]
            keys.extend(
                base + name
                for name in filenames
                if not name.startswith(_TEMP_PREFIX) and (base + name).startswith(prefix)
            )
        return iter(sorted(keys))

    def _write_temp(self, path: Path, data: bytes) -> Path:
        """Write ``data`` durably to a new temp file in ``path``'s directory and return its path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._sweep(path.parent)
        temp = path.with_name(tempfiles.owned_name(_TEMP_PREFIX))
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            _remove(temp)
            raise
        return temp

    def _sweep(self, directory: Path) -> None:
        """Remove the temp files of killed writers from ``directory``, once per interval per store object."""
        now = time.monotonic()
        with self._swept_lock:
            last = self._swept.get(directory)
            if last is not None and now - last < SWEEP_INTERVAL_SECONDS:
                return
            self._swept[directory] = now
        tempfiles.sweep(directory, _TEMP_PREFIX)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return  # absent (or only a prefix of other keys): nothing to delete
        except OSError as exc:
            raise _storage_error("delete", exc, path, key) from None


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):  # best effort: list() never shows temp files anyway
        path.unlink()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _OSErrors:
    """Turn OS errors into StorageError naming the path, so the user knows where to look."""

    def __init__(self, operation: str, path: Path, key: str) -> None:
        self.operation = operation
        self.path = path
        self.key = key

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> Literal[False]:
        if isinstance(exc, OSError):
            raise _storage_error(self.operation, exc, self.path, self.key) from None
        return False


_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENOTDIR: "a parent of it is a file, not a directory",
    errno.EEXIST: "a file is in the way of a directory it needs",
    errno.EISDIR: "it is a directory",
    errno.ENAMETOOLONG: "the name is too long for the file system",
}


def _storage_error(operation: str, exc: OSError, path: Path, key: str) -> StorageError:
    reason = _REASONS.get(exc.errno or 0) or (exc.strerror or type(exc).__name__).lower()
    culprit = str(exc.filename) if exc.filename else ""
    detail = f" ({culprit})" if culprit and culprit != str(path) and _TEMP_PREFIX not in culprit else ""
    return StorageError(f"cannot {operation} {path}: {reason}{detail}", key=key)
