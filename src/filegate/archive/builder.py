"""Building an archive: each pinned source streamed into a ZIP and straight into the output."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from filegate.archive.compression import should_deflate
from filegate.archive.zipwriter import ZipWriter
from filegate.snapshot.manifest import Manifest
from filegate.storage.base import OutputWriter, Storage
from filegate.tickets.record import Part

CHUNK_SIZE = 1024 * 1024
# Sources are read into a ring of reused buffers: fresh memory for every
# chunk costs more than copying it on these machines.
RING_SIZE = 4
# Writes smaller than this (headers, small files) are gathered first, so
# thousands of small entries do not mean thousands of tiny writes and hash calls.
COALESCE_BELOW = 64 * 1024
COALESCE_FLUSH = 1024 * 1024


@dataclass(slots=True)
class Progress:
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int

    def to_dict(self) -> dict[str, int | float]:
        percent = 100.0 if self.bytes_total == 0 else round(100 * self.bytes_done / self.bytes_total, 1)
        return {
            "files_done": self.files_done,
            "files_total": self.files_total,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "percent": percent,
        }


ProgressCallback = Callable[[Progress], None]


class PartSink:
    """Writes one part to the output while a helper thread computes its SHA-256, in order.

    hashlib releases the GIL on large updates, so hashing runs on the second
    core while this thread reads, computes CRC-32 and writes: the SHA-256
    comes from the bytes as they stream by, never from a second read.
    """

    def __init__(self, output: OutputWriter, hasher: ThreadPoolExecutor) -> None:
        self._output = output
        self._hasher = hasher
        self._sha256 = hashlib.sha256()
        self._pending = bytearray()
        self.last_hash: Future[None] | None = None

    def __call__(self, data: bytes | memoryview) -> None:
        if len(data) < COALESCE_BELOW:
            self._pending += data
            if len(self._pending) >= COALESCE_FLUSH:
                self._flush()
            return
        self._flush()
        self._send(data)

    def _flush(self) -> None:
        if self._pending:
            gathered = bytes(self._pending)
            self._pending.clear()
            self._send(gathered)

    def _send(self, data: bytes | memoryview) -> None:
        self.last_hash = self._hasher.submit(self._sha256.update, data)
        self._output.write(data)

    def finish(self) -> str:
        """Write what is gathered and return the part's SHA-256 once every update is in."""
        self._flush()
        if self.last_hash is not None:
            self.last_hash.result()
        return self._sha256.hexdigest()


class _BufferRing:
    """Reusable read buffers; a buffer is refilled only once the hasher is done with it."""

    def __init__(self) -> None:
        self._buffers = [bytearray(CHUNK_SIZE) for _ in range(RING_SIZE)]
        self._in_use: list[Future[None] | None] = [None] * RING_SIZE
        self._next = 0

    def take(self) -> tuple[int, bytearray]:
        slot = self._next
        self._next = (slot + 1) % RING_SIZE
        busy = self._in_use[slot]
        if busy is not None:
            busy.result()
            self._in_use[slot] = None
        return slot, self._buffers[slot]

    def hold(self, slot: int, until: Future[None] | None) -> None:
        self._in_use[slot] = until


def build_zip(
    storage: Storage,
    manifest: Manifest,
    output_key: str,
    download_name: str,
    compression: str,
    on_progress: ProgressCallback,
) -> Part:
    """Write the manifest's entries as one ZIP to ``output_key``; nothing is left on failure."""
    progress = Progress(0, manifest.file_count, 0, manifest.total_size)
    ring = _BufferRing()
    with (
        ThreadPoolExecutor(1, thread_name_prefix="filegate-sha256") as hasher,
        storage.create_output(output_key) as output,
    ):
        sink = PartSink(output, hasher)
        writer = ZipWriter(sink)
        for entry in manifest.entries:
            source = entry.source
            if source.is_dir:
                writer.add_dir(entry.name, source.modified)
                continue
            target = writer.open_entry(
                entry.name, source.modified, source.size, should_deflate(entry.name, compression)
            )
            with storage.open_source(source) as stream:
                while True:
                    slot, buffer = ring.take()
                    count = stream.readinto(buffer)
                    if not count:
                        break
                    sink.last_hash = None
                    target.write(memoryview(buffer)[:count])
                    ring.hold(slot, sink.last_hash)
                    progress.bytes_done += count
                    on_progress(progress)
                stream.verify()
            target.close()
            progress.files_done += 1
            on_progress(progress)
        size = writer.close()
        sha256 = sink.finish()
        output.commit()
    return Part(name=download_name, key=output_key, size=size, sha256=sha256)
