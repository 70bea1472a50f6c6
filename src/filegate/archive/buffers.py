"""The bytes of a build on their way: reusable read buffers, and the sink that writes a part to
the output while a helper thread computes its SHA-256."""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor

from filegate.storage.base import OutputWriter, SourceEntry, SourceStream

CHUNK_SIZE = 1024 * 1024
# Sources are read into a ring of reused buffers: fresh memory for every
# chunk costs more than copying it on these machines.
RING_SIZE = 4
# Writes smaller than this (headers, small files) are gathered first, so
# thousands of small entries do not mean thousands of tiny writes and hash calls.
COALESCE_BELOW = 64 * 1024
COALESCE_FLUSH = 1024 * 1024
# The most ``reserve`` hands out: a file smaller than a chunk, behind its longest local header.
_ROOM_BYTES = CHUNK_SIZE + 8 * 1024


class PartSink:
    """Writes one part to the output while a helper thread computes its SHA-256, in order.

    hashlib releases the GIL on large updates, so hashing runs on the second
    core while this thread reads, computes CRC-32 and writes: the SHA-256
    comes from the bytes as they stream by, never from a second read. A part
    with bytes copied inside the store (``copy``) is the exception: its
    SHA-256 is the store's read-back (StoredOutput.sha256), not this one.
    """

    def __init__(self, output: OutputWriter, hasher: ThreadPoolExecutor) -> None:
        self._output = output
        self._hasher = hasher
        self._sha256 = hashlib.sha256()
        # Two fixed buffers take turns gathering small writes: one fills while the hasher
        # may still read the other. Fresh memory for every gathered megabyte costs more.
        self._gathering = [bytearray(COALESCE_FLUSH + _ROOM_BYTES) for _ in range(2)]
        self._hashing: list[Future[None] | None] = [None, None]
        self._current = 0
        self._pending = memoryview(self._gathering[0])
        self._filled = 0
        self.last_hash: Future[None] | None = None
        self.has_copies = False
        """Whether bytes were placed that never came by: ``finish`` then is not the part's SHA-256."""

    def __call__(self, data: bytes | memoryview) -> None:
        size = len(data)
        if size < COALESCE_BELOW:
            filled = self._filled
            self._pending[filled : filled + size] = data
            self._filled = filled + size
            if self._filled >= COALESCE_FLUSH:
                self._flush()
            return
        self._flush()
        self._send(data)

    def reserve(self, size: int) -> memoryview | None:
        """Room for ``size`` bytes after what is gathered, to be filled in place and then kept
        with ``keep`` (a small file read straight into the part, never copied); None when
        ``size`` is more than one gathering holds."""
        if size > _ROOM_BYTES:
            return None
        if self._filled + size > len(self._pending):
            self._flush()
        return self._pending[self._filled : self._filled + size]

    def keep(self, size: int) -> None:
        """The first ``size`` bytes of the room ``reserve`` gave now belong to the part."""
        self._filled += size
        if self._filled >= COALESCE_FLUSH:
            self._flush()

    def copy(self, source: SourceEntry, offset: int) -> None:
        """``source``'s bytes from ``offset`` on, copied inside the store after what was written."""
        self.flush()
        self.has_copies = True
        self._output.copy_source(source, offset)

    def flush(self) -> None:
        """Hand what is gathered to the output now."""
        self._flush()

    def _flush(self) -> None:
        if not self._filled:
            return
        current = self._current
        self._send(self._pending[: self._filled])
        self._hashing[current] = self.last_hash
        # The other buffer gathers next, once the hasher is done with it.
        current = self._current = 1 - current
        busy = self._hashing[current]
        if busy is not None:
            busy.result()
            self._hashing[current] = None
        self._pending = memoryview(self._gathering[current])
        self._filled = 0

    def _send(self, data: bytes | memoryview) -> None:
        self.last_hash = self._hasher.submit(self._sha256.update, data)
        self._output.write(data)

    def finish(self) -> str:
        """Write what is gathered and return the part's SHA-256 once every update is in."""
        self._flush()
        if self.last_hash is not None:
            self.last_hash.result()
        return self._sha256.hexdigest()


class BufferRing:
    """Reusable read buffers; a buffer is refilled only once the hasher is done with it."""

    def __init__(self) -> None:
        self._buffers = [bytearray(CHUNK_SIZE) for _ in range(RING_SIZE)]
        self._in_use: list[Future[None] | None] = [None] * RING_SIZE
        self._next = 0

    def take(self) -> tuple[int, memoryview]:
        slot = self._next
        self._next = (slot + 1) % RING_SIZE
        busy = self._in_use[slot]
        if busy is not None:
            busy.result()
            self._in_use[slot] = None
        return slot, memoryview(self._buffers[slot])

    def hold(self, slot: int, until: Future[None] | None) -> None:
        self._in_use[slot] = until


def read_full(stream: SourceStream, view: memoryview) -> int:
    """Fill ``view`` unless the source ends first; a network read may return less than asked."""
    total = 0
    while total < len(view):
        count = stream.readinto(view[total:])
        if not count:
            break
        total += count
    return total
