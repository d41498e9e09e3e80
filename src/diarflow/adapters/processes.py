"""Which process owns something, and whether it still runs (Linux ``/proc``; elsewhere only time frees things).

A lease names its holder, a temporary file its writer. When the owner was
SIGKILLed it cleaned up nothing, and the next run must tell a dead owner
from a live one: the same host (hostname, boot and pid namespace), the same
pid, and the same process start time (a pid is reused after the owner died).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from functools import cache
from pathlib import Path


@cache
def host_identity() -> str:
    """Hostname, boot id and pid namespace: equal only where a pid means the same process."""
    parts = [socket.gethostname()]
    with contextlib.suppress(OSError):
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    with contextlib.suppress(OSError):
        parts.append(os.readlink("/proc/self/ns/pid"))
    if len(parts) < 3:
        # Without both we cannot tell a dead owner from one in another container: rely on age or expiry alone.
        parts.append(f"unverifiable-{secrets.token_hex(8)}")
    return "|".join(parts)


def process_start(pid: int) -> str | None:
    """Field 22 of ``/proc/<pid>/stat`` (start time in clock ticks since boot); None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def process_alive(pid: int, started: str | None) -> bool:
    """Whether process ``pid`` runs on this host and is the one that started at ``started`` (if known)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    current = process_start(pid)
    if started is not None and current is not None and current != started:
        return False  # the pid was reused by another process
    # A zombie (killed, not yet reaped by its parent) owns nothing either.
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        if state in ("Z", "X"):
            return False
    return True
