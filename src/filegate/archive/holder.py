"""Who builds a build: a name for this attempt, and whether an earlier holder is known dead.

A holder is ``host/pid-namespace/pid/nonce``. A build whose lease still runs belongs to its
holder; only when that holder is a process of this same host and PID namespace can it be seen
to be dead (a pool process killed, its build delivered again to the next one) and the build taken
at once. Elsewhere its lease has to lapse first.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator

_active: set[str] = set()
"""The holders of this process whose build is running now."""
_active_lock = threading.Lock()


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").removeprefix("pid:").strip("[]")
    except OSError:
        return "-"


def new_holder() -> str:
    """A name for one attempt at a build by this process."""
    return f"{socket.gethostname()}/{_pid_namespace()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def active(holder: str) -> Iterator[None]:
    """``holder``'s build runs in this process for the block."""
    with _active_lock:
        _active.add(holder)
    try:
        yield
    finally:
        with _active_lock:
            _active.discard(holder)


def is_dead(holder: str) -> bool:
    """Whether ``holder`` is a process of this host and PID namespace that no longer runs, or an
    attempt of this very process that is over (its lease could not be dropped: Redis was away)."""
    host, namespace, pid, *_ = [*holder.split("/"), "", "", ""]
    if host != socket.gethostname() or namespace != _pid_namespace() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        with _active_lock:
            return holder not in _active
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # A zombie (killed, not yet reaped by the worker's main process) is dead too.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True
