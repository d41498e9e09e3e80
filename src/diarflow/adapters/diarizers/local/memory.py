"""Hand the C heap's freed pages back to the system between chunks of a long episode (glibc only).

glibc's malloc maps a block above its *mmap threshold* on its own, and unmaps it when it is
freed; smaller blocks come from the heap, which keeps what is freed inside it. The threshold
starts at 128 KiB and rises to the size of each mapped block freed (up to 32 MiB), so after the
first chunk the models' per-chunk buffers (a few MB each) come from the heap, between the small
arrays the episode keeps (each chunk's window activity and embeddings); freed, they leave holes
that stay resident. Over a 6.7 h episode that grew the diarizer's peak RSS from run to run
between 1.3 and 3.1 GB (docs/local-diarizer.md, "Speed and memory").

``malloc_trim(0)`` every few chunks (the diarizer's ``RELEASE_EVERY_CHUNKS``) returns the holes'
whole pages (glibc >= 2.8 trims inside the heap, not only its top): the heap then holds what is
live, and the holes of the chunks in between. It runs once more at the end of each episode: a
service diarizes one after another, and 40 short episodes in one process left 1.3 GB resident
without it, 0.47 GB with it. Fixing the threshold instead
(``mallopt(M_MMAP_THRESHOLD)``) kept memory as low but mapped and zeroed every large buffer
afresh: the 6.7 h episode's RTF went from 0.026 to over 0.05.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


def release_freed_memory() -> bool:
    """Return the heap's free pages to the system; False where the C library is not glibc (nothing done)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)
    except OSError:  # no C library to load symbols from (not a POSIX process)
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "malloc_trim"):
        return None  # musl, macOS, Windows: no malloc_trim, and a different heap
    trim = libc.malloc_trim
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim
