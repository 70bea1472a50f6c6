"""The ZIP format's records, as bytes: local and central headers, data descriptors, end records.

See APPNOTE.TXT (PKWARE) sections 4.3 and 4.5; ZIP64 fields appear only where a size, an
offset or a count needs them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL_HEADER = struct.Struct("<4sHHHHHHIIIHHHHHII")
_DATA_DESCRIPTOR = struct.Struct("<4sIII")
_DATA_DESCRIPTOR64 = struct.Struct("<4sIQQ")
_EOCD = struct.Struct("<4sHHHHIIH")
_EOCD64 = struct.Struct("<4sQHHIIQQQQ")
_EOCD64_LOCATOR = struct.Struct("<4sIQI")
_EXTENDED_TIME_LOCAL = struct.Struct("<HHBI")
LOCAL_HEADER_SIZE = _LOCAL_HEADER.size + _EXTENDED_TIME_LOCAL.size
"""A local header without ZIP64 fields, less its name."""

LIMIT32 = 0xFFFFFFFF
_LIMIT16 = 0xFFFF
# Deflate can grow incompressible data by a few bytes per 16 KiB block: an
# entry this close to 4 GiB gets ZIP64 records in case its output passes it.
ZIP64_THRESHOLD = LIMIT32 - (LIMIT32 >> 10)

STORED = 0
DEFLATED = 8
FLAG_DATA_DESCRIPTOR = 0x08
FLAG_UTF8 = 0x800
_UNIX = 3
_VERSION_DEFAULT = 20
_VERSION_ZIP64 = 45


def dos_datetime(moment: datetime) -> tuple[int, int]:
    """DOS date and time fields (UTC), clamped to the range DOS can hold (1980-2107)."""
    moment = moment.astimezone(UTC)
    if moment.year < 1980:
        return (1 << 5) | 1, 0
    if moment.year > 2107:
        return (127 << 9) | (12 << 5) | 31, (23 << 11) | (59 << 5) | 29
    date = ((moment.year - 1980) << 9) | (moment.month << 5) | moment.day
    time = (moment.hour << 11) | (moment.minute << 5) | (moment.second // 2)
    return date, time


@dataclass(slots=True)
class CentralRecord:
    name: bytes
    flags: int
    method: int
    dos_date: int
    dos_time: int
    crc: int
    compressed_size: int
    size: int
    offset: int
    external_attr: int
    mtime: int


def local_header(record: CentralRecord, zip64: bool) -> bytes:
    """The header ahead of an entry's data: its sizes are zero when a data descriptor follows."""
    extra = extended_time(record.mtime)
    version = _VERSION_DEFAULT
    if record.flags & FLAG_DATA_DESCRIPTOR:
        size_field = compressed_field = 0
        values = (0, 0)
    else:
        size_field, compressed_field = record.size, record.compressed_size
        values = (record.size, record.compressed_size)
    if zip64:
        # The ZIP64 extra holds the sizes (or, ahead of a data descriptor,
        # tells readers that the descriptor's size fields are eight bytes).
        extra += struct.pack("<HHQQ", 0x0001, 16, *values)
        size_field = compressed_field = LIMIT32
        version = _VERSION_ZIP64
    header = _LOCAL_HEADER.pack(
        b"PK\x03\x04",
        version,
        record.flags,
        record.method,
        record.dos_time,
        record.dos_date,
        record.crc,
        compressed_field,
        size_field,
        len(record.name),
        len(extra),
    )
    return header + record.name + extra


def data_descriptor(record: CentralRecord, zip64: bool) -> bytes:
    """The CRC-32 and sizes after an entry's data; eight-byte sizes with ZIP64."""
    if zip64:
        return _DATA_DESCRIPTOR64.pack(b"PK\x07\x08", record.crc, record.compressed_size, record.size)
    return _DATA_DESCRIPTOR.pack(b"PK\x07\x08", record.crc, record.compressed_size, record.size)


def end_records(count: int, start: int, size: int, offset: int) -> bytes:
    """The end of central directory record for ``count`` entries whose directory of ``size``
    bytes starts at ``start``, ahead of which come the ZIP64 ones (at ``offset``) when needed."""
    records = b""
    if count >= _LIMIT16 or start >= LIMIT32 or size >= LIMIT32:
        records += _EOCD64.pack(
            b"PK\x06\x06", 44, (_UNIX << 8) | _VERSION_ZIP64, _VERSION_ZIP64, 0, 0, count, count, size, start
        )
        records += _EOCD64_LOCATOR.pack(b"PK\x06\x07", 0, offset, 1)
    return records + _EOCD.pack(
        b"PK\x05\x06",
        0,
        0,
        min(count, _LIMIT16),
        min(count, _LIMIT16),
        min(size, LIMIT32),
        min(start, LIMIT32),
        0,
    )


def extended_time(mtime: int) -> bytes:
    # Info-ZIP's extended timestamp: the modification time in UTC seconds,
    # which keeps times exact where DOS fields hold local time in 2 s steps.
    return _EXTENDED_TIME_LOCAL.pack(0x5455, 5, 1, max(0, min(mtime, LIMIT32)))


def central_header(record: CentralRecord) -> bytes:
    extra_values: list[int] = []
    size, compressed, offset = record.size, record.compressed_size, record.offset
    if size >= LIMIT32:
        extra_values.append(size)
        size = LIMIT32
    if compressed >= LIMIT32:
        extra_values.append(compressed)
        compressed = LIMIT32
    if offset >= LIMIT32:
        extra_values.append(offset)
        offset = LIMIT32
    extra = extended_time(record.mtime)
    version = _VERSION_DEFAULT
    if extra_values:
        extra += struct.pack(f"<HH{len(extra_values)}Q", 0x0001, 8 * len(extra_values), *extra_values)
        version = _VERSION_ZIP64
    if record.flags & FLAG_DATA_DESCRIPTOR and record.size >= ZIP64_THRESHOLD:
        version = _VERSION_ZIP64
    return (
        _CENTRAL_HEADER.pack(
            b"PK\x01\x02",
            (_UNIX << 8) | version,
            version,
            record.flags,
            record.method,
            record.dos_time,
            record.dos_date,
            record.crc,
            compressed,
            size,
            len(record.name),
            len(extra),
            0,
            0,
            0,
            record.external_attr,
            offset,
        )
        + record.name
        + extra
    )
