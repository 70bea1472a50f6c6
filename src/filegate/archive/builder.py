"""Building an archive: each pinned source streamed into ZIP parts and straight into the output."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from filegate.archive.buffers import CHUNK_SIZE, BufferRing, PartSink, read_full
from filegate.archive.compression import should_deflate
from filegate.archive.integrity import manifest_document, write_manifest
from filegate.archive.parts import PlannedPart, part_name
from filegate.archive.prefetch import Prefetcher
from filegate.archive.record import CommittedPart, Part
from filegate.archive.zipwriter import EntryMismatch, ZipWriter
from filegate.snapshot.manifest import Manifest, ManifestEntry
from filegate.storage.base import OutputWriter, SourceChanged, SourceEntry, SourceStream, Storage

log = logging.getLogger(__name__)

# Deflate runs on every core (zlib-ng releases the GIL): chunks of a large file, and small
# files while the next ones are read; twice as many wait at most.
DEFLATE_THREADS = max(1, min(8, os.cpu_count() or 1))


@dataclass(slots=True)
class Progress:
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    part: int
    parts_total: int

    def to_dict(self) -> dict[str, int | float]:
        percent = 100.0 if self.bytes_total == 0 else round(100 * self.bytes_done / self.bytes_total, 1)
        return {
            "files_done": self.files_done,
            "files_total": self.files_total,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "percent": percent,
            "part": self.part,
            "parts_total": self.parts_total,
        }


ProgressCallback = Callable[[Progress], None]
StopCheck = Callable[[], bool]


class BuildCancelled(Exception):
    """The build was cancelled while it ran; its partial output is gone."""


class StaleCrc(Exception):
    """A source's bytes, as pinned, do not have the CRC-32 known for them beforehand: the part
    is written again without it."""

    def __init__(self, source: SourceEntry) -> None:
        super().__init__(source.path)
        self.source = source


@dataclass(slots=True)
class KnownCrcs:
    """CRC-32s of a build's sources: ``before`` known ahead (archive/crc_cache.py), ``found``
    computed by this build, for the cache."""

    before: dict[SourceEntry, int] = field(default_factory=dict)
    found: dict[SourceEntry, int] = field(default_factory=dict)


def never() -> bool:
    return False


class _PartBuilder:
    """Writes the entries of one part; ``progress`` is shared across parts."""

    def __init__(
        self,
        storage: Storage,
        writer: ZipWriter,
        sink: PartSink,
        ring: BufferRing,
        compression: str,
        progress: Progress,
        on_progress: ProgressCallback,
        should_stop: StopCheck = never,
        prefetcher: Prefetcher | None = None,
        output: OutputWriter | None = None,
        crcs: KnownCrcs | None = None,
    ) -> None:
        self._output = output
        self._crcs = crcs if crcs is not None else KnownCrcs()
        self._prefetcher = prefetcher
        self._should_stop = should_stop
        self._storage = storage
        self._writer = writer
        self._sink = sink
        self._ring = ring
        self._compression = compression
        self._progress = progress
        self._on_progress = on_progress

    def _emit(self, target_write: Callable[[memoryview], None], slot: int, chunk: memoryview) -> None:
        self._sink.last_hash = None
        target_write(chunk)
        self._ring.hold(slot, self._sink.last_hash)
        self._progress.bytes_done += len(chunk)
        self._on_progress(self._progress)
        if self._should_stop():
            raise BuildCancelled

    def add(self, entry: ManifestEntry) -> None:
        source = entry.source
        if source.is_dir:
            self._writer.add_dir(entry.name, source.modified)
            return
        try:
            self._add_file(entry)
        except EntryMismatch:
            if source in self._crcs.before:
                raise StaleCrc(source) from None
            raise SourceChanged(f"{source.path} changed while it was read", paths=[source.path]) from None
        self._progress.files_done += 1
        self._on_progress(self._progress)

    def _add_file(self, entry: ManifestEntry) -> None:
        source = entry.source
        if self._may_copy(source):
            self._add_copied(entry)
            return
        fetched = self._prefetcher.take(entry) if self._prefetcher is not None else None
        if fetched is not None:
            compress = should_deflate(entry.name, self._compression, fetched)
            self._writer.add_file(entry.name, source.modified, fetched, compress)
            self._progress.bytes_done += len(fetched)
            if self._should_stop():
                raise BuildCancelled
            return
        if source.size < CHUNK_SIZE and self._add_in_place(entry):
            return
        with self._storage.open_source(source) as stream:
            slot, buffer = self._ring.take()
            first = buffer[: read_full(stream, buffer)]
            compress = should_deflate(entry.name, self._compression, first)
            if len(first) < len(buffer):
                # A small file is whole in memory: stored or deflated, with its CRC-32 and sizes
                # in its local header.
                stream.verify()

                def add(data: memoryview) -> None:
                    self._writer.add_file(entry.name, source.modified, data, compress)

                self._emit(add, slot, first)
                return
            # Any other is read once, as it streams into the archive: a larger file left
            # uncompressed becomes deflate made of stored blocks (see ZipWriter.open_entry),
            # or is stored as it is when its CRC-32 is known.
            crc = self._crcs.before.get(source)
            target = self._writer.open_entry(entry.name, source.modified, source.size, compress, crc)
            self._stream(stream, target.write, slot, first)
            stream.verify()
            target.close()
            self._crcs.found[source] = target.crc

    def _add_in_place(self, entry: ManifestEntry) -> bool:
        """A small file read straight into the part behind the room for its header: its bytes
        are copied once, from the store into the part, when it is stored. False when the part
        has no room for it here."""
        source = entry.source
        room = self._writer.reserve_file(entry.name, source.size)
        if room is None:
            return False
        with self._storage.open_source(source) as stream:
            data = room[: read_full(stream, room)]
            stream.verify()
        if len(data) != source.size:
            raise SourceChanged(f"{source.path} changed while it was read", paths=[source.path])
        compress = should_deflate(entry.name, self._compression, data)
        self._writer.add_reserved(entry.name, source.modified, data, compress)
        self._progress.bytes_done += source.size
        if self._should_stop():
            raise BuildCancelled
        return True

    def _may_copy(self, source: SourceEntry) -> bool:
        return (
            self._output is not None
            and self._compression != "deflate"
            and source in self._crcs.before
            and self._output.may_copy(source)
        )

    def _add_copied(self, entry: ManifestEntry) -> None:
        """A large file that may be stored and whose CRC-32 is known: its first bytes are read,
        and unless they call for deflate, the bytes the part ahead of the copy needs; the store
        copies the rest (OutputWriter.copy_source). Read in ranges, so that only these pass by."""
        source = entry.source
        crc = self._crcs.before[source]
        slot, buffer = self._ring.take()
        with self._storage.open_source_range(source, 0, CHUNK_SIZE) as stream:
            first = buffer[: read_full(stream, buffer)]
        if len(first) != CHUNK_SIZE:
            raise SourceChanged(f"{source.path} is shorter than it was", paths=[source.path])
        compress = should_deflate(entry.name, self._compression, first)
        target = self._writer.open_entry(entry.name, source.modified, source.size, compress, crc)
        head: int | None = None
        if not compress and self._output is not None:
            self._sink.flush()  # the writer counts the header among the bytes ahead of the copy
            head = self._output.copy_head_bytes(source, len(first))
        end = source.size if head is None else head
        if end > len(first):
            with self._storage.open_source_range(source, len(first), end - len(first)) as stream:
                self._stream(stream, target.write, slot, first)
                stream.verify()
        else:
            self._emit(target.write, slot, first)
        if head is not None:
            target.place(source.size - head, lambda: self._sink.copy(source, head))
            self._progress.bytes_done += source.size - head
            self._on_progress(self._progress)
        target.close()
        self._crcs.found[source] = target.crc

    def _stream(
        self, stream: SourceStream, write: Callable[[memoryview], None], slot: int, chunk: memoryview
    ) -> None:
        while chunk:
            self._emit(write, slot, chunk)
            slot, buffer = self._ring.take()
            chunk = buffer[: read_full(stream, buffer)]


@dataclass(slots=True)
class _Run:
    """What one build shares across its parts."""

    storage: Storage
    base_name: str
    key_prefix: str
    compression: str
    part_count: int
    progress: Progress
    on_progress: ProgressCallback
    hasher: ThreadPoolExecutor
    deflater: ThreadPoolExecutor
    fetcher: ThreadPoolExecutor | None
    ring: BufferRing
    should_stop: StopCheck
    crcs: KnownCrcs

    def write_part(self, planned: PlannedPart) -> Part:
        name = part_name(self.base_name, planned.number, self.part_count)
        key = f"{self.key_prefix}/{name}"
        with self.storage.create_output(key) as output:
            sink = PartSink(output, self.hasher)
            writer = ZipWriter(sink, pool=self.deflater, in_flight=2 * DEFLATE_THREADS, room=sink)
            prefetcher = None
            if self.fetcher is not None:
                ahead = self.storage.small_files_fetched_ahead
                prefetcher = Prefetcher(self.storage, planned.entries, self.fetcher, ahead)
            builder = _PartBuilder(
                self.storage,
                writer,
                sink,
                self.ring,
                self.compression,
                self.progress,
                self.on_progress,
                self.should_stop,
                prefetcher,
                output,
                self.crcs,
            )
            try:
                for entry in planned.entries:
                    builder.add(entry)
            finally:
                if prefetcher is not None:
                    prefetcher.cancel()
            size = writer.close()
            streamed_sha256 = sink.finish()
            stored = output.commit()
        sha256 = stored.sha256 if sink.has_copies else streamed_sha256
        if sha256 is None or stored.size != size:
            raise RuntimeError(f"{key} was stored without its SHA-256 or with a size other than written")
        return Part(name=name, key=key, size=size, sha256=sha256, oversized=planned.oversized)


MAX_PART_ATTEMPTS = 3


@contextlib.contextmanager
def _fetcher(storage: Storage) -> Iterator[ThreadPoolExecutor | None]:
    """Threads that read small sources ahead, on stores where a read waits on the network."""
    if storage.small_files_fetched_ahead <= 0:
        yield None
        return
    with ThreadPoolExecutor(storage.small_files_fetched_ahead, thread_name_prefix="filegate-fetch") as pool:
        yield pool


def refresh_entries(
    storage: Storage, planned: PlannedPart, paths: list[str], changes: dict[str, str]
) -> PlannedPart:
    """The part with each changed source pinned anew as it is now, or left out when gone;
    ``changes`` records each entry's fate for the manifest."""
    entries = []
    for entry in planned.entries:
        if entry.source.path not in paths:
            entries.append(entry)
            continue
        current = storage.stat(entry.source.path)
        if current is None or current.is_dir:
            changes[entry.name] = "deleted"
            continue
        changes[entry.name] = "changed"
        entries.append(ManifestEntry(entry.name, current))
    return PlannedPart(planned.number, entries, planned.size_bound, planned.oversized)


PartCommitted = Callable[[CommittedPart], None]


def _ignore(committed: CommittedPart) -> None:
    return None


def _resumed_entries(planned: PlannedPart, committed: CommittedPart) -> PlannedPart:
    """The part as it was written before: planned, or with the entries a change gave it."""
    if committed.entries is None:
        return planned
    entries = Manifest.from_json(committed.entries).entries
    return PlannedPart(planned.number, entries, planned.size_bound, planned.oversized)


def build_parts(
    storage: Storage,
    plan: list[PlannedPart],
    base_name: str,
    key_prefix: str,
    compression: str,
    on_progress: ProgressCallback,
    on_change: str = "fail",
    should_stop: StopCheck = never,
    resumed: dict[int, CommittedPart] | None = None,
    on_committed: PartCommitted = _ignore,
    kept_on: tuple[type[BaseException], ...] = (),
    crcs: KnownCrcs | None = None,
) -> list[Part]:
    """Write each planned part as a standalone ZIP, then the manifest beside them (last in the
    list). Each part is told to ``on_committed`` once it is stored; a part in ``resumed`` (stored
    by an earlier delivery of the build) is kept instead of written again. On failure nothing
    written stays behind, unless the failure is one of ``kept_on`` (the build will be tried
    again, and goes on from the parts committed).

    ``crcs.before`` holds the CRC-32s known ahead: such a file left uncompressed is stored with it
    in its header, and on S3 a large one copied by the store itself; a file whose bytes do not
    match theirs is dropped from it and its part written again. ``crcs.found`` receives the
    CRC-32 of every file streamed.

    A source that changed since it was pinned fails the build (SourceChanged), unless
    ``on_change`` is 'latest': the part is then written again from the start with the
    source as it is now (or without it, when it is gone), and the manifest says so.
    """
    resumed = resumed or {}
    crcs = crcs if crcs is not None else KnownCrcs()
    progress = Progress(
        files_done=0,
        files_total=sum(part.file_count for part in plan),
        bytes_done=0,
        bytes_total=sum(part.source_bytes for part in plan),
        part=1,
        parts_total=len(plan),
    )
    done: list[Part] = []
    written: list[PlannedPart] = []
    changes: dict[str, str] = {}
    for planned in plan:
        if planned.number not in resumed:
            break
        committed = resumed[planned.number]
        done.append(committed.part)
        written.append(_resumed_entries(planned, committed))
        changes.update(committed.changes)
        progress.files_done += planned.file_count
        progress.bytes_done += planned.source_bytes
        progress.part = min(planned.number + 1, len(plan))
    on_progress(progress)
    try:
        with (
            ThreadPoolExecutor(1, thread_name_prefix="filegate-sha256") as hasher,
            ThreadPoolExecutor(DEFLATE_THREADS, thread_name_prefix="filegate-deflate") as deflater,
            _fetcher(storage) as fetcher,
        ):
            run = _Run(
                storage, base_name, key_prefix, compression, len(plan), progress, on_progress, hasher,
                deflater, fetcher, BufferRing(), should_stop, crcs,
            )  # fmt: skip
            for planned in plan[len(done) :]:
                progress.part = planned.number
                start = (progress.files_done, progress.bytes_done)
                part_changes: dict[str, str] = {}
                refreshed = False
                for attempt in range(1, MAX_PART_ATTEMPTS + 1):
                    try:
                        part = run.write_part(planned)
                        break
                    except StaleCrc as exc:
                        if attempt == MAX_PART_ATTEMPTS:
                            raise SourceChanged(
                                f"{exc.source.path} changed while it was read", paths=[exc.source.path]
                            ) from None
                        log.warning(
                            "part %d is written again: the bytes of %s do not have the CRC-32 known for them",
                            planned.number,
                            exc,
                        )
                        crcs.before.pop(exc.source, None)
                        crcs.found.pop(exc.source, None)
                        progress.files_done, progress.bytes_done = start
                    except SourceChanged as exc:
                        if on_change != "latest" or attempt == MAX_PART_ATTEMPTS:
                            raise
                        log.info("part %d is written again: %s", planned.number, exc.detail)
                        paths = exc.extra.get("paths", [])
                        planned = refresh_entries(storage, planned, paths, part_changes)
                        refreshed = True
                        progress.files_done, progress.bytes_done = start
                done.append(part)
                written.append(planned)
                changes.update(part_changes)
                entries = Manifest(planned.entries).to_json() if refreshed else None
                on_committed(CommittedPart(planned.number, len(plan), part, part_changes, entries))
        manifest_name = f"{base_name}.manifest.json"
        document = manifest_document(base_name, written, done, changes)
        done.append(write_manifest(storage, f"{key_prefix}/{manifest_name}", manifest_name, document))
    except kept_on:
        raise
    except BaseException:
        for part in done:
            try:
                storage.delete_output(part.key)
            except Exception:
                log.exception("could not remove part %s of a failed build", part.key)
        raise
    return done
