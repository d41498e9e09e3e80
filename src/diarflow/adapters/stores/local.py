"""A store in a local directory: the embedded default (``./diarflow-data``)."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from diarflow.adapters.stores.base import check_key
from diarflow.errors import ArtifactNotFound, StorageError

_TEMP_PREFIX = ".tmp-"


class LocalStore:
    """Objects are files under ``root``; writes go through a temp file, fsync and rename."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)

    def __repr__(self) -> str:
        return f"LocalStore({self.url!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put_bytes(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        with _os_errors(path, key):
            temp = self._write_temp(path, data)
            os.replace(temp, path)
            _fsync_dir(path.parent)

    def create_if_absent(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> bool:
        path = self._path(key)
        with _os_errors(path, key):
            temp = self._write_temp(path, data)
            try:
                # link() fails if the target exists: an atomic, complete create-if-absent.
                os.link(temp, path)
            except FileExistsError:
                return False
            finally:
                os.unlink(temp)
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
            raise _storage_error(exc, path, key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> Iterator[str]:
        base = self.root
        keys: list[str] = []
        if not base.is_dir():
            return iter(keys)
        # Walk only the directory the prefix names; filter the rest by string.
        directory = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = base.joinpath(*directory.split("/")) if directory else base
        if not start.is_dir():
            return iter(keys)
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames.sort()
            rel_dir = Path(dirpath).relative_to(base).as_posix()
            for name in filenames:
                if name.startswith(_TEMP_PREFIX):
                    continue
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    keys.append(key)
        return iter(sorted(keys))

    def delete(self, key: str) -> None:
        path = self._path(key)
        with _os_errors(path, key):
            try:
                path.unlink()
            except FileNotFoundError:
                return

    def _write_temp(self, path: Path, data: bytes) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            os.unlink(temp)
            raise
        return temp


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _os_errors(path: Path, key: str) -> Iterator[None]:
    """Turn OS errors into StorageError naming the path, so the user knows where to look."""
    try:
        yield
    except OSError as exc:
        raise _storage_error(exc, path, key) from None


def _storage_error(exc: OSError, path: Path, key: str) -> StorageError:
    reasons = {
        errno.EACCES: "permission denied",
        errno.EROFS: "the file system is read-only",
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
    }
    reason = reasons.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    return StorageError(f"cannot write or read {path}: {reason}", key=key)
