"""Small sources read ahead, several at once, while a build writes the ones before them."""

from __future__ import annotations

import collections
from collections.abc import Iterable
from concurrent.futures import Executor, Future

from filegate.snapshot.manifest import ManifestEntry
from filegate.storage.base import Storage

SMALL_BYTES = 1024 * 1024
"""Files up to this size are read whole; it matches the builder's read size."""


def read_whole(storage: Storage, entry: ManifestEntry) -> bytes:
    """The pinned bytes of a small source; SourceChanged if they are not the pinned ones."""
    # One byte more than pinned is asked for, so that a file that grew is noticed by verify()
    # without reading all of it.
    wanted = entry.source.size + 1
    pieces: list[bytes] = []
    with storage.open_source(entry.source) as stream:
        while wanted > 0 and (piece := stream.read(wanted)):
            pieces.append(piece)
            wanted -= len(piece)
        stream.verify()
    return b"".join(pieces)


class Prefetcher:
    """Keeps the next ``ahead`` small files of ``entries`` being read on ``pool``; ``take``
    hands out each one's bytes in entry order (None for folders and larger files, which the
    builder streams itself). A read's failure is raised by ``take`` of that entry."""

    def __init__(
        self, storage: Storage, entries: Iterable[ManifestEntry], pool: Executor, ahead: int
    ) -> None:
        self._storage = storage
        self._pool = pool
        self._ahead = ahead
        self._upcoming = iter([entry for entry in entries if _is_small_file(entry)])
        self._reading: collections.deque[tuple[ManifestEntry, Future[bytes]]] = collections.deque()
        self._fill()

    def _fill(self) -> None:
        while len(self._reading) < self._ahead and (entry := next(self._upcoming, None)) is not None:
            self._reading.append((entry, self._pool.submit(read_whole, self._storage, entry)))

    def take(self, entry: ManifestEntry) -> bytes | None:
        if not self._reading or self._reading[0][0] is not entry:
            return None
        _, reading = self._reading.popleft()
        self._fill()
        return reading.result()

    def cancel(self) -> None:
        for _, reading in self._reading:
            reading.cancel()
        self._reading.clear()


def _is_small_file(entry: ManifestEntry) -> bool:
    return not entry.source.is_dir and entry.source.size < SMALL_BYTES
