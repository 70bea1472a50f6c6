"""A streaming ZIP writer: entries go out as they are read, ZIP64 only where needed.

Entries whose bytes follow in the stream carry their CRC-32 and sizes in a
data descriptor after the data (general purpose flag bit 3), since the CRC
is only known once the whole entry has been read. Names are UTF-8, flagged
as such (bit 11) when they are not plain ASCII.

An entry left uncompressed whose CRC-32 is not known beforehand is written as a
deflate stream made of stored blocks: its bytes as they are, framed by 5 bytes
per 64 KiB. Every reader takes deflate with a data descriptor, while streaming
readers refuse a stored entry with one, so the source is read only once.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from isal import isal_zlib
from zlib_ng import zlib_ng

from filegate.archive.deflate import DEFLATE_LEVEL, Compressor, ParallelDeflate, StoredBlocks, deflate_whole
from filegate.archive.zipformat import (
    DEFLATED,
    FLAG_DATA_DESCRIPTOR,
    FLAG_UTF8,
    LIMIT32,
    LOCAL_HEADER_SIZE,
    STORED,
    ZIP64_THRESHOLD,
    CentralRecord,
    central_header,
    data_descriptor,
    dos_datetime,
    end_records,
    local_header,
)

# Small files are many and quick to deflate: more of them are held, so the pool's threads
# are not left waiting while the next ones are read.
_HELD_BYTES_PER_SLOT = 1024 * 1024
_HELD_FILES_PER_SLOT = 16


@dataclass(frozen=True, slots=True)
class _Held:
    """A whole file waiting for its turn in the archive while it is deflated."""

    name: str
    modified: datetime
    size: int
    method: int
    crc: int
    data: Future[bytes]


class Room(Protocol):
    """Where a small file can be read straight into the archive (PartSink)."""

    def reserve(self, size: int) -> memoryview | None: ...

    def keep(self, size: int) -> None: ...


@dataclass(frozen=True, slots=True)
class _Reserved:
    name: bytes
    header_size: int
    room: memoryview


def _done(value: bytes) -> Future[bytes]:
    future: Future[bytes] = Future()
    future.set_result(value)
    return future


class ZipWriter:
    """Writes one ZIP archive into ``sink``; call ``add_dir``/``add_file``/``open_entry`` then
    ``close``. Given a ``pool``, deflating runs on its threads: the chunks of a streamed entry,
    and whole files while the next ones are read. At most ``in_flight`` chunks of an entry wait,
    and whole files up to as many megabytes (and 16 times as many files)."""

    def __init__(
        self,
        sink: Callable[[bytes | memoryview], object],
        deflate_level: int = DEFLATE_LEVEL,
        pool: Executor | None = None,
        in_flight: int = 4,
        room: Room | None = None,
    ) -> None:
        self._sink = sink
        self._room = room
        self._reserved: _Reserved | None = None
        self._offset = 0
        self._records: list[CentralRecord] = []
        self._deflate_level = deflate_level
        self._pool = pool
        self._in_flight = in_flight
        self._held: collections.deque[_Held] = collections.deque()
        self._held_bytes = 0

    @property
    def offset(self) -> int:
        """Bytes written so far."""
        return self._offset

    def _emit(self, data: bytes | memoryview) -> None:
        self._sink(data)
        self._offset += len(data)

    def _skip(self, length: int) -> None:
        """``length`` bytes placed in the archive by someone else (a copy inside the store)."""
        self._offset += length

    def _new_record(self, name: str, modified: datetime, method: int, flags: int, mode: int) -> CentralRecord:
        encoded = name.encode("utf-8")
        if not name.isascii():
            flags |= FLAG_UTF8
        dos_date, dos_time = dos_datetime(modified)
        return CentralRecord(
            name=encoded,
            flags=flags,
            method=method,
            dos_date=dos_date,
            dos_time=dos_time,
            crc=0,
            compressed_size=0,
            size=0,
            offset=self._offset,
            external_attr=mode << 16,
            mtime=int(modified.timestamp()),
        )

    def add_dir(self, name: str, modified: datetime) -> None:
        """A folder entry; ``name`` ends with '/'."""
        self._release_held()
        record = self._new_record(name, modified, STORED, 0, 0o40755)
        record.external_attr |= 0x10  # the MS-DOS directory attribute
        self._emit(local_header(record, zip64=False))
        self._records.append(record)

    def open_entry(
        self, name: str, modified: datetime, size: int, compress: bool, crc: int | None = None
    ) -> EntryWriter:
        """Start a file entry; write its bytes to the returned writer, then close it.

        An uncompressed entry whose CRC-32 is given is stored, with CRC and
        sizes in its local header and no data descriptor: streaming readers such
        as Java's ZipInputStream refuse stored entries without them. Its bytes
        must then match ``size`` and ``crc`` exactly (EntryMismatch otherwise).
        Without a CRC-32 it becomes deflate made of stored blocks (see above).
        Other entries are followed by a data descriptor, and ``size`` is a hint.
        """
        self._release_held()
        expected = (size, crc) if crc is not None and not compress else None
        record = self._new_record(
            name,
            modified,
            STORED if expected is not None else DEFLATED,
            0 if expected is not None else FLAG_DATA_DESCRIPTOR,
            0o100644,
        )
        compressor: Compressor | None
        if expected is not None:
            record.size, record.crc = expected
            record.compressed_size = size
            zip64 = size >= LIMIT32
            compressor = None
        else:
            zip64 = size >= ZIP64_THRESHOLD
            compressor = self._compressor() if compress else StoredBlocks()
        self._emit(local_header(record, zip64))
        return EntryWriter(self, record, zip64, compressor, expected)

    def _compressor(self) -> Compressor:
        if self._pool is not None:
            return ParallelDeflate(self._pool, self._in_flight, self._deflate_level)
        single: Compressor = zlib_ng.compressobj(self._deflate_level, zlib_ng.DEFLATED, -15)
        return single

    def add_file(self, name: str, modified: datetime, data: bytes | memoryview, compress: bool) -> None:
        """A file whose bytes are all in ``data``: stored, or deflated, with CRC-32 and sizes in
        its local header. Deflating happens on the pool while later entries come; the entries
        still go out in the order they were added."""
        crc = isal_zlib.crc32(data)
        if not compress and not self._held:
            self._write_whole(name, modified, STORED, crc, len(data), data)
            return
        if not compress:
            held = _done(bytes(data))  # the caller reuses ``data``'s memory
        elif self._pool is not None:
            held = self._pool.submit(deflate_whole, bytes(data), self._deflate_level)
        else:
            held = _done(deflate_whole(bytes(data), self._deflate_level))
        self._held.append(_Held(name, modified, len(data), DEFLATED if compress else STORED, crc, held))
        self._held_bytes += len(data)
        self._release_held(self._in_flight * _HELD_BYTES_PER_SLOT, self._in_flight * _HELD_FILES_PER_SLOT)

    def reserve_file(self, name: str, size: int) -> memoryview | None:
        """Room for a small file's ``size`` bytes right behind the place of its local header, to
        be read into and handed to ``add_reserved`` (so a stored one is never copied); None
        when the sink has no room to give."""
        if self._room is None:
            return None
        encoded = name.encode("utf-8")
        header_size = LOCAL_HEADER_SIZE + len(encoded)
        room = self._room.reserve(header_size + size)
        if room is None:
            return None
        self._reserved = _Reserved(encoded, header_size, room)
        return room[header_size:]

    def add_reserved(self, name: str, modified: datetime, data: memoryview, compress: bool) -> None:
        """A file whose bytes ``data`` were read into the room ``reserve_file`` gave (all of it
        or its start), as ``add_file`` adds it. A stored file ahead of which nothing waits gets
        its header written in front of it and stays where it was read."""
        reserved, self._reserved = self._reserved, None
        if reserved is None or self._room is None:
            raise ValueError("add_reserved needs the room of reserve_file")
        if compress or self._held:
            self.add_file(name, modified, data, compress)
            return
        crc = isal_zlib.crc32(data)
        record = self._new_record(name, modified, STORED, 0, 0o100644)
        record.crc, record.size, record.compressed_size = crc, len(data), len(data)
        header = local_header(record, zip64=False)
        if len(header) != reserved.header_size or record.name != reserved.name:
            raise ValueError(f"the local header of {name!r} does not fit the room reserved for it")
        reserved.room[: len(header)] = header
        self._room.keep(len(header) + len(data))
        self._offset += len(header) + len(data)
        self._records.append(record)

    def _release_held(self, keep_bytes: int = 0, keep_files: int = 0) -> None:
        """Write the held files that are ready, in order, and wait for the oldest while more
        than ``keep_files`` or ``keep_bytes`` are held."""
        while self._held and (
            len(self._held) > keep_files or self._held_bytes > keep_bytes or self._held[0].data.done()
        ):
            held = self._held.popleft()
            self._held_bytes -= held.size
            self._write_whole(held.name, held.modified, held.method, held.crc, held.size, held.data.result())

    def _write_whole(
        self, name: str, modified: datetime, method: int, crc: int, size: int, data: bytes | memoryview
    ) -> None:
        record = self._new_record(name, modified, method, 0, 0o100644)
        record.crc, record.size, record.compressed_size = crc, size, len(data)
        self._emit(local_header(record, zip64=max(size, len(data)) >= LIMIT32))
        self._emit(data)
        self._records.append(record)

    def _finish_entry(self, record: CentralRecord, zip64: bool) -> None:
        if record.flags & FLAG_DATA_DESCRIPTOR:
            if not zip64 and (record.compressed_size > LIMIT32 or record.size > LIMIT32):
                raise EntryMismatch(f"{record.name!r} grew past 4 GiB, beyond the size it was listed with")
            self._emit(data_descriptor(record, zip64))
        self._records.append(record)

    def close(self) -> int:
        """Write the central directory; returns the archive's size in bytes."""
        self._release_held()
        start = self._offset
        for record in self._records:
            self._emit(central_header(record))
        size = self._offset - start
        self._emit(end_records(len(self._records), start, size, self._offset))
        return self._offset


class EntryMismatch(ValueError):
    """An entry's bytes differ from the size or CRC-32 announced in its header."""


class EntryWriter:
    """Receives one entry's bytes, computing its CRC-32 and sizes on the way."""

    def __init__(
        self,
        owner: ZipWriter,
        record: CentralRecord,
        zip64: bool,
        compressor: Compressor | None,
        expected: tuple[int, int] | None,
    ) -> None:
        self._owner = owner
        self._record = record
        self._zip64 = zip64
        self._compressor = compressor
        self._expected = expected
        self._crc = 0
        self._size = 0
        self._compressed_size = 0
        self._placed = False

    @property
    def crc(self) -> int:
        """The entry's CRC-32, once closed."""
        return self._crc

    def place(self, length: int, copy: Callable[[], None]) -> None:
        """The entry's last ``length`` bytes, which ``copy`` places in the output without them
        passing through here: only for a stored entry whose CRC-32 was given, which stands for
        them (the pin of their source guarantees them; see archive/crc_cache.py)."""
        if self._expected is None or self._compressor is not None:
            raise ValueError("only a stored entry with a known CRC-32 can be placed")
        copy()
        self._placed = True
        self._size += length
        self._compressed_size += length
        self._owner._skip(length)

    def write(self, data: bytes | memoryview) -> None:
        self._crc = isal_zlib.crc32(data, self._crc)
        self._size += len(data)
        if self._compressor is not None:
            data = self._compressor.compress(data)
            if not data:
                return
        self._compressed_size += len(data)
        self._owner._emit(data)

    def close(self) -> None:
        if self._compressor is not None:
            tail = self._compressor.flush()
            self._compressed_size += len(tail)
            self._owner._emit(tail)
        if self._placed and self._expected is not None:
            self._crc = self._expected[1]
        if self._expected is not None and self._expected != (self._size, self._crc):
            raise EntryMismatch(
                f"{self._record.name.decode()!r} is not the size or CRC-32 announced in its header"
            )
        self._record.crc, self._record.size = self._crc, self._size
        self._record.compressed_size = self._compressed_size
        self._owner._finish_entry(self._record, self._zip64)
