"""The local diarizer hands freed heap pages back between chunks (adapters/diarizers/local/memory.py)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

from diarflow.adapters.diarizers.local.memory import release_freed_memory

# A chunk's pattern: 1 MB buffers come from the heap and are freed. Prints the resident memory (MB) they leave.
# In the diarizer the buffers come from the heap because glibc's mmap threshold rises past them after the first
# large free, and they stay resident because small arrays that are kept lie between them. Neither is certain in
# a test process (a machine's glibc settings can turn the rise off; where the kept arrays land depends on the
# holes the imports left), so the pattern sets both thresholds itself: the buffers come from the heap, and the
# heap never hands back freed memory on its own. What stays resident then is what only a hand-back returns.
CHUNKS = """
import ctypes
import sys
import numpy as np
from diarflow.adapters.diarizers.local.memory import release_freed_memory

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
libc = ctypes.CDLL(None)
libc.mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024)
libc.mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024)

def anonymous_rss_mb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("RssAnon"))

libc.malloc_trim(0)  # what the imports freed is not resident, so the buffers cannot reuse resident pages
before = anonymous_rss_mb()
kept, buffers = [], []
for _ in range(200):
    buffers.append(np.ones(128 * 1024))
    kept.append(np.ones(256))
peak = anonymous_rss_mb()
del buffers
if sys.argv[1] == "release":
    release_freed_memory()
print(anonymous_rss_mb() - before, peak - before)
"""

# Settings that swap or retune the C heap for a process; the pattern runs on glibc's own defaults.
HEAP_SETTINGS = ("LD_PRELOAD", "GLIBC_TUNABLES")


def resident_mb(mode: str) -> tuple[int, int]:
    """What the freed buffers leave resident, and what was resident with them (MB over the start)."""
    env = {k: v for k, v in os.environ.items() if k not in HEAP_SETTINGS and not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", CHUNKS, mode], capture_output=True, text=True, check=True, env=env)
    retained, peak = (int(x) for x in done.stdout.split())
    return retained, peak


def test_freed_buffers_are_handed_back_on_glibc() -> None:
    if platform.libc_ver()[0] != "glibc":  # another C library has another heap: nothing is done there
        assert release_freed_memory() is False
        return
    retained, peak = resident_mb("keep")
    assert peak >= 190, f"the buffers were not resident at all ({peak} MB)"
    assert retained >= 150, f"the heap handed back freed buffers on its own ({retained} MB kept)"
    retained, peak = resident_mb("release")
    assert peak >= 190
    assert retained <= 20
    assert release_freed_memory() is True
