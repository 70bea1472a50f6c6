"""Archives from filegate's ZipWriter open in every reader users have (see tests/readers.py)."""

from __future__ import annotations

import random
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from filegate.archive.zipwriter import ZipWriter
from tests.readers import ALL_READERS, READERS, check_with_all_readers

MOMENT = datetime(2024, 2, 29, 13, 14, 16, tzinfo=UTC)
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Entry:
    name: str
    data: bytes = b""
    compress: bool = False
    # An uncompressed entry whose CRC-32 is not given: deflate made of stored blocks.
    crc_known: bool = True

    @property
    def is_folder(self) -> bool:
        return self.name.endswith("/")


def _noise(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


_TEXT = b"".join(b"line %d: the quick brown fox jumps over the lazy dog\n" % n for n in range(6000))
# The data descriptor's signature inside stored data: a reader that scans for it must not stop there.
_TRICKY = _noise(70_000, 1) + b"PK\x07\x08" + _noise(30_000, 2)

_FOLDERS = [Entry("Fotos/"), Entry("Fotos/été/"), Entry("Ñandú/")]
_DEFLATED = [
    Entry("readme.txt", _TEXT, compress=True),
    Entry("noise.bin", _noise(200_000, 3), compress=True),
    Entry("leer.txt", b"", compress=True),
    Entry("Fotos/été/東京.txt", "こんにちは、東京\n".encode() * 500, compress=True),
    Entry("Ñandú/ñu/ÅÄÖ.md", b"# \xc3\x85\xc3\x84\xc3\x96\n", compress=True),
]
_STORED = [
    Entry("photo.jpg", _TRICKY),
    Entry("empty.bin", b""),
    Entry("Fotos/été/Zürich.raw", _noise(5_000, 4)),
    Entry("Ñandú/ñu/日本語.dat", _TEXT[:1000]),
]

_STORED_BLOCKS = [
    Entry("video.mp4", _TRICKY, crc_known=False),
    Entry("blank.iso", b"", crc_known=False),
    Entry("Fotos/été/big.txt", _TEXT, crc_known=False),
    Entry("Ñandú/one-block.bin", _noise(65_535, 5), crc_known=False),
]

WHOLE = "whole-files"
ARCHIVES: dict[str, list[Entry]] = {
    # Small files added whole, deflated on a pool or stored, all with sizes up front.
    WHOLE: [*_FOLDERS, *_DEFLATED, *_STORED],
    "deflated": [*_FOLDERS, *_DEFLATED],
    "stored": [*_FOLDERS, *_STORED],
    "stored-blocks": [*_FOLDERS, *_STORED_BLOCKS],
    # Stored and deflated in turn, so every reader has to find its way from one kind to the other.
    "mixed": [
        _FOLDERS[0],
        _STORED[0],
        _DEFLATED[0],
        _STORED[1],
        _DEFLATED[2],
        _FOLDERS[1],
        _DEFLATED[3],
        _STORED[2],
        _FOLDERS[2],
        _STORED_BLOCKS[0],
        _STORED[3],
        _STORED_BLOCKS[1],
        _DEFLATED[4],
        _STORED_BLOCKS[2],
        _DEFLATED[1],
    ],
}


def _write(path: Path, entries: list[Entry], whole: bool = False) -> dict[str, bytes]:
    """Writes ``entries`` with ZipWriter, in chunks as a download streams them, or ``whole``
    (held while a pool deflates them) as the builder adds small files; returns the expected map."""
    with path.open("wb") as sink, ThreadPoolExecutor(2) as pool:
        writer = ZipWriter(sink.write, pool=pool, in_flight=2)
        for entry in entries:
            if entry.is_folder:
                writer.add_dir(entry.name, MOMENT)
                continue
            if whole:
                writer.add_file(entry.name, MOMENT, entry.data, entry.compress)
                continue
            # As the builder does: stored entries announce their CRC-32 in the local header.
            crc = zlib.crc32(entry.data) if entry.crc_known and not entry.compress else None
            entry_writer = writer.open_entry(entry.name, MOMENT, len(entry.data), entry.compress, crc)
            for start in range(0, len(entry.data), CHUNK):
                entry_writer.write(entry.data[start : start + CHUNK])
            entry_writer.close()
        size = writer.close()
    assert size == path.stat().st_size
    return {entry.name: entry.data for entry in entries}


@dataclass(frozen=True)
class Archive:
    path: Path
    expected: dict[str, bytes]


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Archive]:
    folder = tmp_path_factory.mktemp("reader-compat")
    built: dict[str, Archive] = {}
    for kind, entries in ARCHIVES.items():
        path = folder / f"{kind}.zip"
        built[kind] = Archive(path, _write(path, entries, whole=kind == WHOLE))
    return built


@pytest.mark.parametrize("reader", ALL_READERS)
@pytest.mark.parametrize("kind", list(ARCHIVES))
def test_reader_reads_every_entry(archives: dict[str, Archive], kind: str, reader: str) -> None:
    archive = archives[kind]
    READERS[reader](archive.path, archive.expected)


def test_writer_archive_passes_check_with_all_readers(archives: dict[str, Archive]) -> None:
    archive = archives["deflated"]
    check_with_all_readers(archive.path, archive.expected)


@pytest.mark.parametrize("reader", ALL_READERS)
def test_each_reader_notices_content_that_differs(archives: dict[str, Archive], reader: str) -> None:
    """The helper is only worth its green if each reader turns red on an archive that is not as expected."""
    archive = archives["deflated"]
    wrong = dict(archive.expected)
    wrong["readme.txt"] = _TEXT.replace(b"lazy", b"busy", 1)
    del wrong["leer.txt"]
    wrong["missing.txt"] = b"not in the archive"
    with pytest.raises(AssertionError, match=f"^{reader}: ") as raised:
        READERS[reader](archive.path, wrong)
    message = str(raised.value)
    assert "'leer.txt'" in message
    assert "'missing.txt'" in message
    if reader in ("zipfile", "java-zipfile", "java-stream", "bsdtar-stream"):
        # These compare content at once (the others stop at the listing, whose names already differ).
        assert "'readme.txt': got" in message


def test_check_with_all_readers_names_every_failing_reader(archives: dict[str, Archive]) -> None:
    archive = archives["deflated"]
    wrong = {**archive.expected, "Fotos/été/東京.txt": b"different"}
    with pytest.raises(AssertionError) as raised:
        check_with_all_readers(archive.path, wrong, readers=("zipfile", "unzip"))
    message = str(raised.value)
    assert "2 of 2 readers failed" in message
    assert "(zipfile, unzip)" in message
    assert "\n\nunzip: the tree `unzip` extracted differs" in message
    with pytest.raises(ValueError, match="unknown readers"):
        check_with_all_readers(archive.path, archive.expected, readers=("winzip",))
