"""build_parts on a local store: real ZIPs from files in a tmp_path folder, read back by Python's
zipfile and Info-ZIP's unzip, split parts that each open alone, the digests recorded, and
nothing left behind by a build that fails."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from filegate.archive.builder import Progress, build_parts
from filegate.archive.parts import PlannedPart, plan_parts
from filegate.archive.record import Part
from filegate.storage.base import SourceChanged, SourceEntry, SourceStream
from filegate.storage.local import LocalStorage
from tests.integration.archive.local_store import put, snapshot
from tests.readers import check_unzip, check_zipfile


@pytest.fixture(params=[0, 4], ids=["one-by-one", "fetched-ahead"])
def storage(tmp_path: Path, request: pytest.FixtureRequest) -> LocalStorage:
    """The local store, its small files read one at a time as it does, or ahead as S3 does."""
    (tmp_path / "files").mkdir()
    store = LocalStorage(tmp_path / "files", tmp_path / "archives", "http://127.0.0.1:1", "secret")
    store.small_files_fetched_ahead = request.param
    store.prepare()
    return store


def _build(
    storage: LocalStorage, plan: list[PlannedPart], compression: str = "auto", **options: Any
) -> tuple[list[Part], list[Progress]]:
    reports: list[Progress] = []

    def report(progress: Progress) -> None:
        reports.append(dataclasses.replace(progress))  # the builder changes one object as it goes

    parts = build_parts(storage, plan, "holiday", "build-1", compression, report, **options)
    return parts, reports


def _expected(plan: PlannedPart, sources: dict[str, bytes]) -> dict[str, bytes]:
    """What the planned part must hold: each entry's name, with its bytes (b'' for a folder)."""
    return {entry.name: sources.get(entry.name, b"") for entry in plan.entries}


def _check_part(storage: LocalStorage, part: Part, expected: dict[str, bytes]) -> bytes:
    """The part opens alone in zipfile and unzip with exactly ``expected``; its recorded size and
    SHA-256 are the file's."""
    path = storage.output_path(part.key)
    check_zipfile(path, expected)
    check_unzip(path, expected)
    data = path.read_bytes()
    assert (part.size, part.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    return data


def _outputs(storage: LocalStorage) -> list[str]:
    """Every file in the output folder, partial ones too."""
    return sorted(str(path.relative_to(storage.output_dir)) for path in storage.output_dir.rglob("*"))


def test_one_zip_holds_every_source_and_its_digest_is_recorded(storage: LocalStorage) -> None:
    sources = {
        "trip/notes.txt": put(storage, "trip/notes.txt", b"a line that repeats\n" * 2000),
        "trip/photos/a.jpg": put(storage, "trip/photos/a.jpg", os.urandom(30_000)),
        "trip/empty.txt": put(storage, "trip/empty.txt", b""),
        "trip/été/東京.txt": put(storage, "trip/été/東京.txt", "こんにちは".encode()),
    }
    manifest = snapshot(storage, "trip/")
    plan = plan_parts(manifest, None)

    parts, reports = _build(storage, plan)

    assert [(part.name, part.role) for part in parts] == [
        ("holiday.zip", "part"),
        ("holiday.manifest.json", "manifest"),
    ]
    expected = {"trip/": b"", "trip/photos/": b"", "trip/été/": b"", **sources}
    _check_part(storage, parts[0], expected)
    with zipfile.ZipFile(storage.output_path(parts[0].key)) as archive:
        kinds = {info.filename: info.compress_type for info in archive.infolist()}
    # auto: text is deflated, a JPEG stored as it is
    assert kinds["trip/notes.txt"] == zipfile.ZIP_DEFLATED
    assert kinds["trip/photos/a.jpg"] == zipfile.ZIP_STORED
    assert parts[0].size < manifest.total_size

    document = json.loads(storage.output_path(parts[1].key).read_bytes())
    [listed] = document["parts"]
    assert (listed["name"], listed["size"]) == ("holiday.zip", parts[0].size)
    assert listed["sha256"] == parts[0].sha256
    assert {entry["path"] for entry in listed["entries"]} == set(expected)
    assert parts[1].sha256 == hashlib.sha256(storage.output_path(parts[1].key).read_bytes()).hexdigest()

    last = reports[-1]
    assert (last.files_done, last.files_total) == (4, 4)
    assert last.bytes_done == last.bytes_total == manifest.total_size


@pytest.mark.parametrize("compression", ["store", "deflate"])
def test_the_compression_asked_for_is_used_for_every_file(storage: LocalStorage, compression: str) -> None:
    sources = {
        "mix/a.jpg": put(storage, "mix/a.jpg", os.urandom(5000)),
        "mix/b.txt": put(storage, "mix/b.txt", b"text " * 1000),
    }
    parts, _ = _build(storage, plan_parts(snapshot(storage, "mix/"), None), compression)

    _check_part(storage, parts[0], {"mix/": b"", **sources})
    wanted = zipfile.ZIP_STORED if compression == "store" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(storage.output_path(parts[0].key)) as archive:
        assert {info.compress_type for info in archive.infolist() if not info.is_dir()} == {wanted}


class _CountedStream(SourceStream):
    def __init__(self, stream: SourceStream, counts: dict[str, int], path: str) -> None:
        self._stream, self._counts, self._path = stream, counts, path
        counts.setdefault(path, 0)  # an empty file is opened and never read

    def read(self, size: int) -> bytes:
        data = self._stream.read(size)
        self._counts[self._path] = self._counts.get(self._path, 0) + len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        count = self._stream.readinto(buffer)
        self._counts[self._path] = self._counts.get(self._path, 0) + count
        return count

    def verify(self) -> None:
        self._stream.verify()

    def close(self) -> None:
        self._stream.close()


class _CountingStorage(LocalStorage):
    """The local store, counting the bytes read from each source."""

    counts: dict[str, int]

    def open_source(self, entry: SourceEntry) -> SourceStream:
        return _CountedStream(super().open_source(entry), self.counts, entry.path)


@pytest.mark.parametrize("ahead", [0, 3])
@pytest.mark.parametrize("compression", ["store", "auto", "deflate"])
def test_every_source_byte_is_read_once(tmp_path: Path, compression: str, ahead: int) -> None:
    """Large files left uncompressed too: they become deflate made of stored blocks, whose CRC-32
    follows the data, instead of being read once for the CRC and again into the archive. Small
    files read ahead are read once as well, and keep their place."""
    storage = _CountingStorage(tmp_path / "files", tmp_path / "archives", "http://127.0.0.1:1", "secret")
    storage.small_files_fetched_ahead = ahead
    storage.prepare()
    storage.counts = {}
    sources = {
        "big/noise.bin": os.urandom(3 * 1024 * 1024 + 17),
        "big/film.mp4": os.urandom(2 * 1024 * 1024),
        "big/notes.txt": b"a line of text\n" * 200_000,
        "big/small.jpg": os.urandom(4000),
        **{f"big/many/{n:02}.txt": b"small %d " % n * n for n in range(12)},
    }
    for path, data in sources.items():
        put(storage, path, data)
    parts, _ = _build(storage, plan_parts(snapshot(storage, "big/"), None), compression)

    assert storage.counts == {path: len(data) for path, data in sources.items()}
    _check_part(storage, parts[0], {"big/": b"", "big/many/": b"", **sources})
    with zipfile.ZipFile(storage.output_path(parts[0].key)) as archive:
        noise = archive.getinfo("big/noise.bin")
        names = archive.namelist()
    assert names == sorted(names)  # the manifest's order: folders before what they hold
    if compression == "deflate":
        assert noise.compress_size <= noise.file_size * 1.001  # incompressible data does not grow much
    else:
        # Left as it is, in stored blocks: 5 bytes of framing per block, 17 blocks per MiB read.
        assert noise.compress_type == zipfile.ZIP_DEFLATED
        mebibytes = -(-noise.file_size // (1024 * 1024))
        assert noise.file_size < noise.compress_size <= noise.file_size + 85 * mebibytes + 5


def test_a_split_archive_is_parts_that_each_open_alone_within_the_split_size(storage: LocalStorage) -> None:
    sources = {f"set/{n}.bin": put(storage, f"set/{n}.bin", os.urandom(3000)) for n in range(6)}
    sources["set/huge.bin"] = put(storage, "set/huge.bin", os.urandom(12_000))
    split_size = 8000
    plan = plan_parts(snapshot(storage, "set/"), split_size)
    assert len(plan) >= 3

    parts, _ = _build(storage, plan, "store")

    archives, [manifest_part] = parts[:-1], parts[-1:]
    count = len(plan)
    assert [part.name for part in archives] == [f"holiday-{n}-of-{count}.zip" for n in range(1, count + 1)]
    held: set[str] = set()
    for planned, part in zip(plan, archives, strict=True):
        expected = _expected(planned, sources)
        _check_part(storage, part, expected)
        held |= expected.keys()
        assert part.oversized == planned.oversized
        assert part.size <= split_size or part.oversized
    assert held == {"set/", *sources}
    # The one file larger than the split size stands alone in its part.
    [alone] = [part for part in archives if part.oversized]
    with zipfile.ZipFile(storage.output_path(alone.key)) as archive:
        assert archive.namelist() == ["set/huge.bin"]

    document = json.loads(storage.output_path(manifest_part.key).read_bytes())
    assert [(p["name"], p["size"], p["sha256"]) for p in document["parts"]] == [
        (part.name, part.size, part.sha256) for part in archives
    ]


def test_a_source_changed_after_it_was_pinned_fails_the_build_and_leaves_nothing(
    storage: LocalStorage,
) -> None:
    for number in range(4):
        put(storage, f"set/{number}.bin", os.urandom(3000))
    plan = plan_parts(snapshot(storage, "set/"), 8000)
    assert len(plan) >= 2
    changed = plan[-1].entries[-1].source.path  # in the last part: the first ones were written
    put(storage, changed, b"not what was pinned")

    with pytest.raises(SourceChanged) as failed:
        _build(storage, plan, "store")

    assert failed.value.extra["paths"] == [changed]
    assert _outputs(storage) == []


def test_with_on_change_latest_the_part_is_written_again_from_the_sources_as_they_are(
    storage: LocalStorage,
) -> None:
    put(storage, "docs/kept.txt", b"kept")
    put(storage, "docs/edited.txt", b"first draft")
    put(storage, "docs/removed.txt", b"soon gone")
    plan = plan_parts(snapshot(storage, "docs/"), None)
    put(storage, "docs/edited.txt", b"the final version, longer")
    (Path(storage.root) / "docs/removed.txt").unlink()

    parts, _ = _build(storage, plan, on_change="latest")

    _check_part(
        storage,
        parts[0],
        {"docs/": b"", "docs/kept.txt": b"kept", "docs/edited.txt": b"the final version, longer"},
    )
    document = json.loads(storage.output_path(parts[1].key).read_bytes())
    assert document["deleted"] == ["docs/removed.txt"]
    changed = {entry["path"]: entry["changed"] for entry in document["parts"][0]["entries"]}
    assert changed == {"docs/": False, "docs/kept.txt": False, "docs/edited.txt": True}
