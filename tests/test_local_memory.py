"""The local diarizer hands freed heap pages back between chunks (adapters/diarizers/local/memory.py)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

from diarflow.adapters.diarizers.local.memory import release_freed_memory

# A chunk's pattern: 1 MB buffers come from the heap between small arrays that are kept, and are freed.
# Prints the resident memory (MB) the freed buffers leave. In the diarizer, the buffers come from the heap because
# glibc's mmap threshold rises past them after the first large free; here the threshold is set to the
# same effect, so the pattern does not hang on that heuristic (a machine's glibc settings can turn it off).
CHUNKS = """
import ctypes
import sys
import numpy as np
from diarflow.adapters.diarizers.local.memory import release_freed_memory

M_MMAP_THRESHOLD = -3
libc = ctypes.CDLL(None)
libc.mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024)

def anonymous_rss_mb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("RssAnon"))

libc.malloc_trim(0)  # what the imports freed is not resident, so the buffers cannot reuse resident pages
before = anonymous_rss_mb()
kept, buffers = [], []
for _ in range(200):
    buffers.append(np.ones(128 * 1024))
    kept.append(np.ones(256))
del buffers
if sys.argv[1] == "release":
    release_freed_memory()
print(anonymous_rss_mb() - before)
"""

# Settings that swap or retune the C heap for a process; the pattern runs on glibc's own defaults.
HEAP_SETTINGS = ("LD_PRELOAD", "GLIBC_TUNABLES")


def retained_mb(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k not in HEAP_SETTINGS and not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", CHUNKS, mode], capture_output=True, text=True, check=True, env=env)
    return int(done.stdout.strip())


def test_freed_buffers_between_kept_arrays_are_handed_back_on_glibc() -> None:
    if platform.libc_ver()[0] != "glibc":  # another C library has another heap: nothing is done there
        assert release_freed_memory() is False
        return
    assert retained_mb("keep") >= 150  # the heap keeps 200 MB of freed buffers resident
    assert retained_mb("release") <= 20
    assert release_freed_memory() is True
