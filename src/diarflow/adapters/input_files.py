"""Reading an input file the user named (a transcript, an episode list) with a size limit, whatever the file is."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from diarflow.errors import InvalidInput

if TYPE_CHECKING:
    from io import FileIO

READ_CHUNK_BYTES = 1024 * 1024
LIMIT_SETTING = "DIARFLOW_MAX_TRANSCRIPT_BYTES"


def read_input_file(path: Path, field: str, limit: int) -> bytes:
    """The bytes of the file ``field`` names (an option, an argument), refusing more than ``limit`` while reading.

    A regular file over the limit is refused from its size, unread. Pipes,
    devices and sockets have no size (``/dev/zero`` reports 0), so no file is
    trusted to end: it is read in chunks that stop at ``limit + 1`` bytes.
    """
    over = f"over the {limit:,}-byte limit (raise {LIMIT_SETTING} to allow it)"
    try:
        with path.open("rb", buffering=0) as handle:
            status = os.fstat(handle.fileno())
            regular = stat.S_ISREG(status.st_mode)
            if regular and status.st_size > limit:
                raise InvalidInput(field, f"{path} is {status.st_size:,} bytes, {over}")
            # A regular file comes in one read (no copy when the chunks are joined); it may still grow meanwhile.
            first = min(status.st_size + 1, limit + 1) if regular else READ_CHUNK_BYTES
            chunks = _read_at_most(handle, limit + 1, first_chunk=first)
    except FileNotFoundError:
        raise InvalidInput(field, f"{path} does not exist") from None
    except IsADirectoryError:
        raise InvalidInput(field, f"{path} is a directory, not a file") from None
    except PermissionError:
        raise InvalidInput(field, f"{path} is not readable (permission denied)") from None
    except OSError as exc:
        raise InvalidInput(field, f"cannot read {path}: {exc.strerror or exc}") from None
    if sum(map(len, chunks)) > limit:
        raise InvalidInput(field, f"{path} is {over}: reading stopped after {limit + 1:,} bytes")
    return b"".join(chunks)


def _read_at_most(handle: FileIO, count: int, *, first_chunk: int) -> list[bytes]:
    """Chunks read from ``handle`` until end of file or ``count`` bytes in all."""
    chunks: list[bytes] = []
    total = 0
    size = first_chunk
    while total < count and (chunk := handle.read(min(size, count - total))):
        chunks.append(chunk)
        total += len(chunk)
        size = READ_CHUNK_BYTES
    return chunks
