from __future__ import annotations

import hashlib
import io
import struct
import subprocess
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filegate.archive.buffers import PartSink
from filegate.archive.zipwriter import EntryMismatch, ZipWriter, dos_datetime
from filegate.storage.local import LocalOutputWriter

MOMENT = datetime(2024, 2, 29, 13, 14, 16, tzinfo=UTC)


def _write(entries: list[tuple[str, bytes, bool]], size_hint: int | None = None) -> bytes:
    buffer = io.BytesIO()
    writer = ZipWriter(buffer.write)
    for name, data, compress in entries:
        entry = writer.open_entry(name, MOMENT, len(data) if size_hint is None else size_hint, compress)
        for start in range(0, len(data), 7000):
            entry.write(data[start : start + 7000])
        entry.close()
    assert writer.close() == len(buffer.getvalue())
    return buffer.getvalue()


names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
    min_size=1,
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(names, st.tuples(st.binary(max_size=20_000), st.booleans()), min_size=1, max_size=8))
def test_any_entries_read_back_unchanged(entries: dict[str, tuple[bytes, bool]]) -> None:
    blob = _write([(name, data, compress) for name, (data, compress) in entries.items()])
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert archive.testzip() is None
        assert {info.filename: archive.read(info) for info in archive.infolist()} == {
            name: data for name, (data, _) in entries.items()
        }


def test_utf8_flag_only_on_non_ascii_names() -> None:
    blob = _write([("plain.txt", b"a", False), ("été.txt", b"b", True)])
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        plain, accented = archive.infolist()
    assert not plain.flag_bits & 0x800
    assert accented.flag_bits & 0x800
    assert accented.filename == "été.txt"


def test_folders_are_entries_with_the_directory_attribute() -> None:
    buffer = io.BytesIO()
    writer = ZipWriter(buffer.write)
    writer.add_dir("empty/", MOMENT)
    writer.close()
    with zipfile.ZipFile(buffer) as archive:
        [info] = archive.infolist()
    assert info.is_dir() and info.external_attr & 0x10
    assert info.date_time == (2024, 2, 29, 13, 14, 16)


@pytest.mark.slow
def test_more_than_65535_entries_use_zip64_end_records(tmp_path: Path) -> None:
    blob = _write([(f"f{number}", b"", False) for number in range(70_000)])
    assert b"PK\x06\x06" in blob[-200:]
    path = tmp_path / "many.zip"
    path.write_bytes(blob)
    with zipfile.ZipFile(path) as archive:
        assert len(archive.infolist()) == 70_000
    assert subprocess.run(["unzip", "-tqq", str(path)], capture_output=True).returncode == 0
    listed = subprocess.run(["bsdtar", "-tf", str(path)], capture_output=True, text=True, check=True)
    assert len(listed.stdout.splitlines()) == 70_000


def test_small_archives_stay_plain_zip() -> None:
    blob = _write([("a", b"x" * 1000, True)])
    assert b"PK\x06\x06" not in blob
    local_version = struct.unpack_from("<H", blob, 4)[0]
    assert local_version == 20


def test_an_entry_listed_near_4_gib_gets_zip64_descriptors_readers_accept(tmp_path: Path) -> None:
    blob = _write([("huge-by-listing.bin", b"data" * 100, False)], size_hint=5 * 1024**3)
    path = tmp_path / "zip64.zip"
    path.write_bytes(blob)
    with zipfile.ZipFile(path) as archive:
        assert archive.read("huge-by-listing.bin") == b"data" * 100
    assert subprocess.run(["unzip", "-tqq", str(path)], capture_output=True).returncode == 0


def test_dos_times_are_clamped_to_what_dos_can_hold() -> None:
    assert dos_datetime(datetime(1970, 1, 1, tzinfo=UTC)) == ((1 << 5) | 1, 0)
    date, _ = dos_datetime(datetime(2200, 1, 1, tzinfo=UTC))
    assert date >> 9 == 127


def test_stored_entries_with_a_known_crc_need_no_data_descriptor(tmp_path: Path) -> None:
    data = b"known ahead" * 1000
    buffer = io.BytesIO()
    writer = ZipWriter(buffer.write)
    entry = writer.open_entry("known.bin", MOMENT, len(data), False, crc=zlib.crc32(data))
    entry.write(data)
    entry.close()
    writer.close()
    blob = buffer.getvalue()
    flags, _, _, _, crc, compressed, size = struct.unpack_from("<HHHHIII", blob, 6)
    assert not flags & 0x08
    assert (crc, compressed, size) == (zlib.crc32(data), len(data), len(data))
    assert b"PK\x07\x08" not in blob
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        assert archive.read("known.bin") == data


@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 1_000_000])
def test_uncompressed_entries_without_a_crc_are_stored_blocks_of_deflate(size: int) -> None:
    """Their bytes pass as they are, with 5 bytes of framing per 64 KiB block and a final one,
    when they come in chunks of a megabyte as the builder reads them."""
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    buffer = io.BytesIO()
    writer = ZipWriter(buffer.write)
    entry = writer.open_entry("as-is.bin", MOMENT, size, False)
    entry.write(data)
    entry.close()
    writer.close()
    blob = buffer.getvalue()
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        [info] = archive.infolist()
        assert archive.read("as-is.bin") == data
    assert info.compress_type == zipfile.ZIP_DEFLATED
    assert info.flag_bits & 0x08  # its CRC-32 and sizes follow in a data descriptor
    assert data[:4096] in blob  # the bytes themselves, framed
    blocks = max(1, -(-size // 65_535))
    assert size < info.compress_size <= size + 5 * (blocks + 1)


def test_whole_files_deflated_on_a_pool_keep_their_order_among_other_entries() -> None:
    """Held while they are deflated, and written with their CRC-32 and sizes up front."""
    files = {f"f{n:03}.txt": (b"line %d\n" % n) * (n * 50) for n in range(40)}
    buffer = io.BytesIO()
    with ThreadPoolExecutor(2) as pool:
        writer = ZipWriter(buffer.write, pool=pool, in_flight=3)
        for index, (name, data) in enumerate(files.items()):
            writer.add_file(name, MOMENT, memoryview(bytearray(data)), compress=index % 3 != 0)
            if index == 10:
                writer.add_dir("folder/", MOMENT)
            if index == 20:
                streamed = writer.open_entry("streamed.txt", MOMENT, 0, True)
                streamed.write(b"streamed " * 10_000)
                streamed.close()
        size = writer.close()
    blob = buffer.getvalue()
    assert size == len(blob)
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        names = archive.namelist()
        held = [info for info in archive.infolist() if info.filename in files]
        assert all(archive.read(name) == data for name, data in files.items())
    expected = list(files)
    expected.insert(11, "folder/")
    expected.insert(22, "streamed.txt")
    assert names == expected
    assert {info.compress_type for info in held} == {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
    assert not any(info.flag_bits & 0x08 for info in held)


@pytest.mark.parametrize("actual", [b"changed!!!!", b"short"])
def test_bytes_that_differ_from_the_announced_crc_or_size_are_refused(actual: bytes) -> None:
    writer = ZipWriter(io.BytesIO().write)
    entry = writer.open_entry("x", MOMENT, 11, False, crc=zlib.crc32(b"original!!!"))
    entry.write(actual)
    with pytest.raises(EntryMismatch):
        entry.close()


def _stored_with_crc(data: bytes, placed_from: int | None) -> bytes:
    """An archive of one stored entry with its CRC-32 given; from ``placed_from`` on its bytes are
    placed into the output by someone else (as a copy inside the store is), not written."""
    buffer = io.BytesIO()
    writer = ZipWriter(buffer.write)
    entry = writer.open_entry("film.bin", MOMENT, len(data), False, crc=zlib.crc32(data))
    entry.write(data[:placed_from])
    if placed_from is not None:
        entry.place(len(data) - placed_from, lambda: buffer.write(data[placed_from:]))
    entry.close()
    assert writer.close() == len(buffer.getvalue())
    return buffer.getvalue()


@given(st.binary(min_size=1, max_size=5000), st.data())
def test_bytes_placed_by_someone_else_make_the_archive_writing_them_makes(
    data: bytes, draw: st.DataObject
) -> None:
    placed_from = draw.draw(st.integers(0, len(data) - 1))

    placed = _stored_with_crc(data, placed_from)

    assert placed == _stored_with_crc(data, None)
    with zipfile.ZipFile(io.BytesIO(placed)) as archive:
        assert archive.read("film.bin") == data


def test_only_a_stored_entry_with_its_crc_given_can_have_bytes_placed() -> None:
    writer = ZipWriter(io.BytesIO().write)
    for entry in (
        writer.open_entry("a.bin", MOMENT, 10, False),
        writer.open_entry("b.txt", MOMENT, 10, True, crc=0),
    ):
        with pytest.raises(ValueError, match="known CRC-32"):
            entry.place(10, lambda: None)


def test_files_read_into_the_part_in_place_keep_their_order_among_held_ones(tmp_path: Path) -> None:
    """A small file read straight into the sink's room: stored ones stay where they were read
    (their header written in front), deflated ones are held, and the order holds throughout."""
    files = {f"in place/{n:03}.txt": (b"row %d\n" % n) * (n * 40) for n in range(60)}
    output = LocalOutputWriter(tmp_path / "part.zip", "part.zip")
    with ThreadPoolExecutor(1) as hasher, ThreadPoolExecutor(2) as pool:
        sink = PartSink(output, hasher)
        writer = ZipWriter(sink, pool=pool, in_flight=3, room=sink)
        for index, (name, data) in enumerate(files.items()):
            room = writer.reserve_file(name, len(data))
            assert room is not None and len(room) == len(data)
            room[:] = data
            writer.add_reserved(name, MOMENT, room, compress=index % 4 == 1)
            if index == 30:
                writer.add_dir("folder/", MOMENT)
        size = writer.close()
        sha256 = sink.finish()
    output.commit()
    blob = (tmp_path / "part.zip").read_bytes()
    assert size == len(blob)
    assert sha256 == hashlib.sha256(blob).hexdigest()
    with zipfile.ZipFile(tmp_path / "part.zip") as archive:
        assert archive.testzip() is None
        assert archive.namelist()[:31] == list(files)[:31]
        assert archive.namelist()[31] == "folder/"
        assert all(archive.read(name) == data for name, data in files.items())
        infos = [archive.getinfo(name) for name in files]
    assert {info.compress_type for info in infos} == {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
    assert not any(info.flag_bits & 0x08 for info in infos)
    listed = subprocess.run(["unzip", "-tq", str(tmp_path / "part.zip")], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stdout + listed.stderr


def test_a_writer_without_room_reads_small_files_the_usual_way() -> None:
    writer = ZipWriter(io.BytesIO().write)
    assert writer.reserve_file("a.txt", 10) is None
    with pytest.raises(ValueError, match="reserve_file"):
        writer.add_reserved("a.txt", MOMENT, memoryview(b"0123456789"), compress=False)


def test_a_file_larger_than_a_gathering_gets_no_room(tmp_path: Path) -> None:
    output = LocalOutputWriter(tmp_path / "part.zip", "part.zip")
    with ThreadPoolExecutor(1) as hasher:
        sink = PartSink(output, hasher)
        writer = ZipWriter(sink, room=sink)
        assert writer.reserve_file("big.bin", 2 * 1024 * 1024) is None
        assert writer.reserve_file("fits.bin", 1024 * 1024 - 1) is not None
    output.abort()
