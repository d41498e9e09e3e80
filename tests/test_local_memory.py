"""The local diarizer hands freed heap pages back between chunks (adapters/diarizers/local/memory.py)."""

from __future__ import annotations

import platform
import subprocess
import sys

from diarflow.adapters.diarizers.local.memory import release_freed_memory

# A chunk's pattern: a large freed buffer raises glibc's mmap threshold; then 1 MB buffers come from the
# heap between small arrays that are kept, and are freed. Prints the RSS (MB) the freed buffers leave.
CHUNKS = """
import sys
import numpy as np
from diarflow.adapters.diarizers.local.memory import release_freed_memory

def rss_mb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))

big = np.ones(2 * 1024 * 1024); del big
before = rss_mb()
kept, buffers = [], []
for _ in range(200):
    buffers.append(np.ones(128 * 1024))
    kept.append(np.ones(256))
del buffers
if sys.argv[1] == "release":
    release_freed_memory()
print(rss_mb() - before)
"""


def retained_mb(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", CHUNKS, mode], capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


def test_freed_buffers_between_kept_arrays_are_handed_back_on_glibc() -> None:
    if platform.libc_ver()[0] != "glibc":  # another C library has another heap: nothing is done there
        assert release_freed_memory() is False
        return
    assert retained_mb("keep") >= 150  # the heap keeps 200 MB of freed buffers resident
    assert retained_mb("release") <= 20
    assert release_freed_memory() is True
